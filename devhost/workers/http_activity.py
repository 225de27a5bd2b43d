"""The built-in HTTP activity behind ``context.call_http`` (TaskScheduled 'BuiltIn::HttpActivity').

It runs in the host, not in a worker process: durable_functions() (durable_runner.py) hands it to the
engine next to the worker runner, so that the engine itself needs no HTTP client.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from devhost.durable.models import ActivityFailure
from devhost.durable.protocol import HTTP_ACTIVITY_NAME

_TIMEOUT = aiohttp.ClientTimeout(total=100)


async def run_http_activity(input_json: str | None) -> str:
    """Send the orchestrator's DurableHttpRequest; the result is JSON text of
    ``{"statusCode", "headers", "content"}`` (durable-protocol.md 2.5)."""
    try:
        request: dict[str, Any] = json.loads(input_json or "null") or {}
        method = str(request.get("method") or "GET").upper()
        uri = str(request["uri"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ActivityFailure(f"Activity function '{HTTP_ACTIVITY_NAME}' failed: invalid request", str(exc)) from exc
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    content = request.get("content")
    body = content.encode() if isinstance(content, str) else None
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.request(method, uri, data=body, headers=headers) as response,
        ):
            text = await response.text()
            return json.dumps({"statusCode": response.status, "headers": dict(response.headers), "content": text})
    except aiohttp.ClientError as exc:
        reason = f"Activity function '{HTTP_ACTIVITY_NAME}' failed: {type(exc).__name__}: {exc}"
        raise ActivityFailure(reason, f"{method} {uri}") from exc
