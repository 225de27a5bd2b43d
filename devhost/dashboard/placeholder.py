"""A stand-in for the dashboard until devhost/dashboard/app.py exists: one page and /api/health."""

from __future__ import annotations

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devhost dashboard</title></head>
<body><h1>devhost dashboard</h1><p>The dashboard is coming. The host is running; the durable management API
is at <code>/runtime/webhooks/durabletask</code> on the functions port.</p></body></html>
"""


async def _index(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "dashboard": "placeholder"})


def create_placeholder_app() -> web.Application:
    """The placeholder dashboard application."""
    app = web.Application()
    app.router.add_get("/", _index)
    app.router.add_get("/api/health", _health)
    return app
