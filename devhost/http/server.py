"""The functions port: /api routes, admin endpoints and the durable management API on one aiohttp app."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

import devhost
from devhost.app.index import FunctionIndex, IndexedFunction, TriggerKind
from devhost.auth import AuthPolicy, Handler, key_middleware, local_only_middleware
from devhost.durable.history import format_ts
from devhost.durable.service import DurableService
from devhost.errors import DurableError
from devhost.http.openapi import OPENAPI_PATH, describe_app, describe_http_functions
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from devhost.management.routes import create_management_app
from devhost.triggers.http import HttpRouter, HttpTriggerHandler, error_response

#: Largest request body accepted, like the Functions host's 100 MB limit.
MAX_REQUEST_BYTES = 100 * 1024 * 1024

#: Runs a non-HTTP function once by name with an optional input (POST /admin/functions/{name}).
AdminInvoke = Callable[[IndexedFunction, str | None], Awaitable[None]]
#: Virtual time (tests only): moves the task hub's clock forward, returns its new time (POST /admin/devhost/clock).
AdvanceClock = Callable[[timedelta], Awaitable[datetime]]
#: The task hub's current time.
ReadClock = Callable[[], datetime]
#: devhost's own admin routes (no Functions host has them); under /admin/, so they take the admin key too.
DEVHOST_ADMIN_PREFIX = "/admin/devhost"


@dataclass
class ServerParts:
    """What the functions port serves."""

    index: FunctionIndex
    router: HttpRouter
    handler: HttpTriggerHandler
    policy: AuthPolicy
    service: DurableService
    task_hub: str
    public_origin: str
    admin_invoke: AdminInvoke | None = None
    #: Allowed CORS origins from local.settings.json Host.CORS ("*" allows any); empty disables CORS.
    cors_origins: tuple[str, ...] = ()
    #: Set only when the host runs with virtual time: then (and only then) /admin/devhost/clock exists.
    clock: tuple[ReadClock, AdvanceClock] | None = None


def size_limit_middleware(limit: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """413 for a request whose declared (or read) body exceeds limit bytes, before the body is read."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > limit:
            return error_response(413, f"request body of {request.content_length} bytes exceeds the {limit} byte limit")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, f"request body exceeds the {limit} byte limit")

    return middleware


def _cors_middleware(origins: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    # Like `func start` with Host.CORS: allowed origins get CORS headers, preflights are answered here.
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or ("*" not in origins and origin not in origins):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"]
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                response.headers["Access-Control-Allow-Headers"] = requested
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
        if "*" not in origins:
            response.headers["Vary"] = "Origin"
        return response

    return middleware


def function_summary(function: IndexedFunction, parts: ServerParts) -> dict[str, Any]:
    """One entry of /admin/functions."""
    url = None
    methods: list[str] | None = None
    if function.kind is TriggerKind.HTTP:
        route = next(r for r in parts.router.routes if r.function is function)
        url = parts.public_origin + parts.router.url_path(route)
        methods = sorted(route.methods)
    return {
        "name": function.name,
        "trigger": function.kind.value,
        "language": "python",
        "invoke_url_template": url,
        "methods": methods,
        "isDisabled": False,
        "config": {"bindings": [dict(raw) for raw in function.raw_bindings]},
    }


def create_http_app(parts: ServerParts) -> web.Application:
    """The aiohttp application for the functions port."""
    started = time.monotonic()
    policy = parts.policy
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[
            _cors_middleware(parts.cors_origins),
            size_limit_middleware(MAX_REQUEST_BYTES),
            local_only_middleware(policy, RPC_PREFIX),
            key_middleware(policy, ("/admin/",)),
            # The public management API takes a function or admin key (its URLs are handed to users).
            key_middleware(policy, (MANAGEMENT_PREFIX,), "function"),
        ],
    )
    # One sub-app per mount: aiohttp binds a sub-app to a single prefix.
    app.add_subapp(MANAGEMENT_PREFIX, create_management_app(parts.service, task_hub=parts.task_hub))
    app.add_subapp(RPC_PREFIX, create_management_app(parts.service, task_hub=parts.task_hub))

    async def host_status(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": "devhost",
                "state": "Running",
                "version": devhost.__version__,
                "processUptime": int((time.monotonic() - started) * 1000),
                "functions": len(parts.index.functions),
            }
        )

    async def list_functions(request: web.Request) -> web.Response:
        return web.json_response([function_summary(f, parts) for f in parts.index.functions])

    async def get_function(request: web.Request) -> web.Response:
        function = parts.index.get(request.match_info["name"])
        if function is None:
            return error_response(404, f"no function named {request.match_info['name']!r}")
        return web.json_response(function_summary(function, parts))

    async def invoke_function(request: web.Request) -> web.Response:
        function = parts.index.get(request.match_info["name"])
        if function is None:
            return error_response(404, f"no function named {request.match_info['name']!r}")
        if parts.admin_invoke is None or function.kind not in (TriggerKind.TIMER, TriggerKind.QUEUE, TriggerKind.BLOB):
            return error_response(400, f"function {function.name!r} ({function.kind.value}) cannot be run this way")
        text = await request.text()
        payload: str | None = None
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                return error_response(400, 'body must be JSON like {"input": "..."}')
            payload = body.get("input") if isinstance(body, dict) else None
        try:
            await parts.admin_invoke(function, payload)
        except DurableError as exc:
            return error_response(exc.http_status, str(exc))
        return web.Response(status=202)

    app.router.add_get("/admin/host/status", host_status)
    app.router.add_get("/admin/functions", list_functions)
    app.router.add_get("/admin/functions/{name}", get_function)
    app.router.add_post("/admin/functions/{name}", invoke_function)

    if parts.clock is not None:
        _add_clock_routes(app, *parts.clock)

    async def openapi(request: web.Request) -> web.Response:
        """This port's routes as an OpenAPI document: /api functions, /admin, the management API."""
        document = describe_app(app, "devhost functions port", skip_prefixes=(RPC_PREFIX,))
        return web.json_response(describe_http_functions(document, parts.router))

    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_route("*", "/{tail:.*}", parts.handler)
    return app


def _add_clock_routes(app: web.Application, read: ReadClock, advance: AdvanceClock) -> None:
    """GET/POST /admin/devhost/clock: the task hub's virtual time (devhost's pytest plugin's advance())."""

    def clock_body(now: datetime) -> dict[str, Any]:
        offset = now - datetime.now(UTC)
        return {"now": format_ts(now), "offsetSeconds": round(max(offset.total_seconds(), 0.0), 3)}

    async def get_clock(request: web.Request) -> web.Response:
        """The task hub's current (virtual) time."""
        return web.json_response(clock_body(read()))

    async def advance_clock(request: web.Request) -> web.Response:
        """Move the task hub's clock forward by {"seconds": N}; durable timers now due fire at once."""
        try:
            body = json.loads(await request.text() or "null")
        except ValueError:
            body = None
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return error_response(400, 'body must be JSON like {"seconds": 86400} (how far to move the clock)')
        try:
            now = await advance(timedelta(seconds=seconds))
        except (DurableError, OverflowError) as exc:
            return error_response(400, str(exc))
        return web.json_response(clock_body(now))

    app.router.add_get(f"{DEVHOST_ADMIN_PREFIX}/clock", get_clock)
    app.router.add_post(f"{DEVHOST_ADMIN_PREFIX}/clock", advance_clock)
