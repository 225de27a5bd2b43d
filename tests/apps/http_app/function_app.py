"""Test app: HTTP routes, methods, params, bodies, errors, and table/blob/queue bindings."""

import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="echo/{name}", methods=["GET", "POST"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = req.get_body().decode("utf-8")
    payload = {
        "method": req.method,
        "url": req.url,
        "name": req.route_params.get("name"),
        "params": dict(req.params),
        "header": req.headers.get("x-test"),
        "body": body,
        "json": req.get_json() if body and req.headers.get("content-type") == "application/json" else None,
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"x-echo": "yes"})


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> str:
    return f"item {req.route_params['id']}"


@app.route(route="items/{slug}", methods=["GET"])
def item_by_slug(req: func.HttpRequest) -> str:
    return f"slug {req.route_params['slug']}"


@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> str:
    return "path=" + req.route_params.get("path", "")


@app.route(route="opt/{x?}")
async def optional(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("x", "none"), status_code=201)


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("about to fail")
    raise ValueError("kaboom")


@app.route(route="dict")
def returns_dict(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "allowed"}  # type: ignore[return-value]


@app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
def secure(req: func.HttpRequest) -> str:
    return "secret"


@app.route(route="tables/{id}", methods=["PUT"])
@app.table_output(arg_name="row", table_name="httpapptable", partition_key="p", connection="AzureWebJobsStorage")
def put_row(req: func.HttpRequest, row: func.Out[str]) -> func.HttpResponse:
    data = req.get_json()
    row.set(json.dumps({"RowKey": req.route_params["id"], "Value": data["value"]}))
    return func.HttpResponse(status_code=204)


@app.route(route="tables/{id}", methods=["GET"])
@app.table_input(
    arg_name="row", table_name="httpapptable", partition_key="p", row_key="{id}", connection="AzureWebJobsStorage"
)
def get_row(req: func.HttpRequest, row: str | None) -> func.HttpResponse:
    if row is None:
        return func.HttpResponse("missing", status_code=404)
    return func.HttpResponse(row, mimetype="application/json")


@app.route(route="tables", methods=["GET"])
@app.table_input(
    arg_name="rows", table_name="httpapptable", partition_key="p", take=2, connection="AzureWebJobsStorage"
)
def list_rows(req: func.HttpRequest, rows: str) -> func.HttpResponse:
    return func.HttpResponse(rows, mimetype="application/json")


@app.route(route="blobs/{name}", methods=["PUT"])
@app.blob_output(arg_name="out", path="httpapp/{name}.txt", connection="AzureWebJobsStorage")
def put_blob(req: func.HttpRequest, out: func.Out[str]) -> str:
    out.set(req.get_body().decode("utf-8"))
    return "stored"


@app.route(route="blobs/{name}", methods=["GET"])
@app.blob_input(arg_name="blob", path="httpapp/{name}.txt", connection="AzureWebJobsStorage")
def get_blob(req: func.HttpRequest, blob: func.InputStream | None) -> func.HttpResponse:
    if blob is None:
        return func.HttpResponse("no blob", status_code=404)
    return func.HttpResponse(f"{blob.name}:{blob.read().decode('utf-8')}")


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="msgs", queue_name="httpapp-out", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, msgs: func.Out[list[str]]) -> str:
    msgs.set(req.get_json()["messages"])
    return "queued"
