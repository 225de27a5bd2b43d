"""JSON API for the app's storage queues, poison queues and collected results."""

from __future__ import annotations

from aiohttp import web

from devhost.dashboard import params
from devhost.dashboard.context import STORAGE
from devhost.dashboard.storage import validate_queue_name

routes = web.RouteTableDef()


@routes.get("/api/queues")
async def list_queues(request: web.Request) -> web.Response:
    """Every queue (watched ones and all in the account) with its poison twin and message counts."""
    storage = request.app[STORAGE]
    if not storage.configured:
        return web.json_response({"configured": False, "queues": []})
    pairs = await storage.queue_pairs()
    return web.json_response({"configured": True, "queues": [pair.to_json() for pair in pairs]})


@routes.get("/api/queues/{name}/messages")
async def peek_messages(request: web.Request) -> web.Response:
    """Peek (without dequeuing) up to `top` (1-32, default 32) messages, base64-decoded where they decode."""
    name = validate_queue_name(request.match_info["name"])
    top = params.parse_int(request.query.get("top", "32"), "top", 1, 32)
    messages = await request.app[STORAGE].peek(name, top)
    return web.json_response({"queue": name, "messages": messages})


@routes.post("/api/queues/{name}/messages/{message_id}/requeue")
async def requeue(request: web.Request) -> web.Response:
    """Move one message from a poison queue back to its original queue."""
    target = await request.app[STORAGE].requeue(request.match_info["name"], request.match_info["message_id"])
    return web.json_response({"ok": True, "queue": target})


@routes.get("/api/results")
async def results(request: web.Request) -> web.Response:
    """Rows of the configured results table (`top`, 1-1000, default 100)."""
    storage = request.app[STORAGE]
    top = params.parse_int(request.query.get("top", "100"), "top", 1, 1000)
    if not storage.configured or not storage.results_table:
        return web.json_response({"configured": False, "table": storage.results_table, "exists": False, "rows": []})
    return web.json_response({"configured": True, **await storage.results(top)})
