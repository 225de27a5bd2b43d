// JSON API client: every call returns parsed JSON or throws ApiError with the server's message.

export class ApiError extends Error {
  constructor(message, status, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/**
 * The URL of a dashboard path ("/api/..."), relative to the page: a task hub's dashboard may be served under
 * /hubs/NAME/ as well as at the root, and its API lives beside its page.
 */
export function hubUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).href;
}

/** GET (default) or POST a JSON body to the dashboard API (paths as "/api/...", see hubUrl). */
export async function api(path, { method = "GET", body, signal } = {}) {
  const options = { method, signal, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(hubUrl(path), options);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The dashboard server is not reachable.", 0, "NetworkError");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data?.error?.message || `${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status, data?.error?.type);
  }
  return data;
}

/** Path of an instance's API resource. */
export function instancePath(instanceId, suffix = "") {
  return `/api/instances/${encodeURIComponent(instanceId)}${suffix}`;
}

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
