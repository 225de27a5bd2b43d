"""JSON API for durable entities: list, read one, signal an operation."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devhost.dashboard import params
from devhost.dashboard.context import SERVICE
from devhost.dashboard.instances_api import json_body
from devhost.dashboard.payloads import iso
from devhost.durable.models import EntityRecord
from devhost.errors import DurableError, InvalidRequestError
from devhost.management.status import json_value

routes = web.RouteTableDef()


class EntityNotFoundError(DurableError):
    """No entity with that name and key has state (HTTP 404)."""

    http_status = 404


#: Characters of state shown in the list; the detail has the whole state.
PREVIEW_CHARS = 200
DEFAULT_TOP = 100


def entity_summary(record: EntityRecord) -> dict[str, Any]:
    """A list row: id parts, last operation time, the state's size and a one-line preview."""
    state = record.state or ""
    preview = " ".join(state.split()) if len(state) <= PREVIEW_CHARS * 4 else state[: PREVIEW_CHARS * 4]
    return {
        "entityId": record.entity_id,
        "name": record.name,
        "key": record.key,
        "lastOperationTime": iso(record.last_operation_time),
        "stateSize": len(state),
        "statePreview": preview[:PREVIEW_CHARS] + ("…" if len(preview) > PREVIEW_CHARS else ""),
    }


def entity_detail(record: EntityRecord) -> dict[str, Any]:
    """A list row plus the parsed state and whether the entity is locked by an orchestration."""
    detail = entity_summary(record)
    detail.update({"state": json_value(record.state), "lockedBy": record.locked_by})
    return detail


@routes.get("/api/entities")
async def list_entities(request: web.Request) -> web.Response:
    """Existing entities, optionally of one `name`, most recently operated first (`top`, 1-1000)."""
    unknown = sorted(set(request.query) - {"name", "top", "code"})
    if unknown:
        raise InvalidRequestError(f"unknown parameter(s): {', '.join(unknown)}; expected: name, top")
    name = request.query.get("name", "").strip() or None
    top = params.parse_int(request.query.get("top", str(DEFAULT_TOP)), "top", 1, 1000)
    records = await request.app[SERVICE].list_entities(name, page_size=top)
    # Most recent first: the entity a developer just signalled is the one they look for.
    records.sort(key=lambda r: (iso(r.last_operation_time) or "", r.entity_id), reverse=True)
    return web.json_response({"entities": [entity_summary(r) for r in records], "top": top})


async def _existing(request: web.Request) -> EntityRecord:
    name, key = request.match_info["name"], request.match_info["key"]
    record = await request.app[SERVICE].read_entity(name, key)
    if record is None:
        raise EntityNotFoundError(f"no entity @{name.lower()}@{key} (it has no state)")
    return record


@routes.get("/api/entities/{name}/{key}")
async def get_entity(request: web.Request) -> web.Response:
    """One entity with its whole state as a JSON value."""
    return web.json_response(entity_detail(await _existing(request)))


@routes.post("/api/entities/{name}/{key}/signal")
async def signal_entity(request: web.Request) -> web.Response:
    """Queue a one-way operation: {"operation", "input"? (any JSON value the entity's get_input() returns)}."""
    body = await json_body(request)
    operation = params.required_str(body, "operation").strip()
    input_json: str | None = None
    if body.get("input") is not None:
        # The Python entity context decodes its input twice (json, then the SDK's own decoding), so the
        # value travels as the JSON text of its JSON text; get_input() then returns the value itself.
        inner = params.json_text_or_none(body["input"], "input")
        input_json = json.dumps(inner)
    name, key = request.match_info["name"], request.match_info["key"]
    await request.app[SERVICE].signal_entity(name, key, operation, input_json)
    return web.json_response({"ok": True, "entityId": f"@{name.lower()}@{key}", "operation": operation}, status=202)
