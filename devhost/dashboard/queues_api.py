"""JSON API for the app's storage queues, poison queues and collected results."""

from __future__ import annotations

from aiohttp import web

from devhost.dashboard import params
from devhost.dashboard.context import SETTINGS, STORAGE
from devhost.dashboard.storage import QueueMessageNotFoundError, StorageUnavailableError, validate_queue_name
from devhost.triggers.blob import POISON_QUEUE, function_id

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


@routes.get("/api/blob-triggers")
async def blob_triggers(request: web.Request) -> web.Response:
    """The app's blob triggers (container, blobs seen, receipts by status) and the entries of their poison queue."""
    triggers = request.app[SETTINGS].blob_triggers
    rows = []
    for trigger in triggers:
        counts = await trigger.counts()
        rows.append(
            {
                "function": trigger.function.name,
                "path": trigger.pattern.path,
                "container": trigger.container_name,
                "blobsSeen": counts.blobs_seen,
                "versions": counts.versions,
                "done": counts.done,
                "pending": counts.pending,
                "poisoned": counts.poisoned,
                "scans": trigger.scans,
                "lastScanMs": None if trigger.last_scan_s is None else round(trigger.last_scan_s * 1000, 1),
                "lastScanBlobs": trigger.last_scan_blobs,
            }
        )
    poison: list[dict[str, object]] = []
    poison_error: str | None = None
    storage = request.app[STORAGE]
    if triggers and storage.configured:
        ids = {function_id(trigger.function.name): trigger.function.name for trigger in triggers}
        try:
            messages = await storage.peek(POISON_QUEUE, 32)
        except QueueMessageNotFoundError:
            messages = []  # nothing was poisoned yet
        except StorageUnavailableError as exc:
            messages, poison_error = [], str(exc)
        for message in messages:
            entry = message["json"] if isinstance(message.get("json"), dict) else {}
            poison.append(
                {
                    "id": message["id"],
                    "insertedOn": message["insertedOn"],
                    "function": ids.get(str(entry.get("FunctionId")), entry.get("FunctionId")),
                    "container": entry.get("ContainerName"),
                    "blob": entry.get("BlobName"),
                    "etag": entry.get("ETag"),
                }
            )
    return web.json_response(
        {"triggers": rows, "poisonQueue": POISON_QUEUE, "poison": poison, "poisonError": poison_error}
    )


@routes.get("/api/results")
async def results(request: web.Request) -> web.Response:
    """Rows of the configured results table (`top`, 1-1000, default 100)."""
    storage = request.app[STORAGE]
    top = params.parse_int(request.query.get("top", "100"), "top", 1, 1000)
    if not storage.configured or not storage.results_table:
        return web.json_response({"configured": False, "table": storage.results_table, "exists": False, "rows": []})
    return web.json_response({"configured": True, **await storage.results(top)})
