"""Entity routes of the management API: read, list, signal and delete durable entities."""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

from aiohttp import web

from devhost.durable.models import EntityRecord, JsonValue
from devhost.durable.service import DurableService
from devhost.management.params import (
    CONTINUATION_HEADER,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    is_json_content_type,
    parse_bool,
    parse_datetime,
    parse_int,
    query_value,
    read_text,
    require_json,
)
from devhost.management.responses import ApiError, json_response, json_text_response
from devhost.management.status import format_time, json_value

#: URL key standing for the empty entity key (the extension's convention).
EMPTY_KEY_SYMBOL = "$"


def add_entity_routes(router: web.UrlDispatcher, service: DurableService) -> None:
    """Register GET/POST/DELETE /entities/{name}/{key} and GET /entities[/{name}] on router."""
    handlers = _EntityHandlers(service)
    for path in ("/entities", "/entities/", "/entities/{entityName}", "/entities/{entityName}/"):
        router.add_get(path, handlers.list_entities, allow_head=False)
    router.add_get("/entities/{entityName}/{entityKey}", handlers.read_entity, allow_head=False)
    router.add_post("/entities/{entityName}/{entityKey}", handlers.signal_entity)
    router.add_delete("/entities/{entityName}/{entityKey}", handlers.signal_entity)


def _entity_key(request: web.Request) -> str:
    key = request.match_info["entityKey"]
    return "" if key == EMPTY_KEY_SYMBOL else key


class EntityId(TypedDict):
    """An entity's name and key, as the API names an entity."""

    name: str
    key: str


class EntityListItem(TypedDict):
    """One entity of GET /entities/{name}."""

    entityId: EntityId
    lastOperationTime: str | None
    #: Only with fetchState=true.
    state: NotRequired[JsonValue]


def render_entity(record: EntityRecord, *, with_state: bool) -> EntityListItem:
    """One entity of GET /entities/{name}: id, last operation time and (with fetchState) its state."""
    item: EntityListItem = {
        "entityId": {"name": record.name, "key": record.key},
        "lastOperationTime": format_time(record.last_operation_time) if record.last_operation_time else None,
    }
    if with_state:
        item["state"] = json_value(record.state)
    return item


class _EntityHandlers:
    def __init__(self, service: DurableService) -> None:
        self.service = service

    async def read_entity(self, request: web.Request) -> web.Response:
        """GET /entities/{name}/{key}: the state as a JSON value; 404 when the entity does not exist."""
        name = request.match_info["entityName"]
        key = _entity_key(request)
        record = await self.service.read_entity(name, key)
        if record is None or record.state is None:
            raise ApiError(404, "EntityNotFound", f"Entity @{name.lower()}@{key} does not exist (no state).")
        return json_text_response(record.state)

    async def list_entities(self, request: web.Request) -> web.Response:
        """GET /entities[/{name}]: existing entities (fetchState, top, lastOperationTimeFrom/To)."""
        name = request.match_info.get("entityName") or None
        with_state = parse_bool(request, "fetchState", False)
        top = parse_int(request, "top", 1, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        time_from = parse_datetime(request, "lastOperationTimeFrom")
        time_to = parse_datetime(request, "lastOperationTimeTo")
        records = await self.service.list_entities(name, page_size=top)
        chosen = [
            record
            for record in records
            if (
                time_from is None
                or (record.last_operation_time is not None and record.last_operation_time >= time_from)
            )
            and (time_to is None or (record.last_operation_time is not None and record.last_operation_time <= time_to))
        ]
        body = [render_entity(record, with_state=with_state) for record in chosen]
        # Entity listing is not paged here: a single page holds everything the service returned.
        return json_response(body, headers={CONTINUATION_HEADER: ""})

    async def signal_entity(self, request: web.Request) -> web.Response:
        """POST /entities/{name}/{key}?op=..: one-way operation; DELETE sends the "delete" operation."""
        name = request.match_info["entityName"]
        key = _entity_key(request)
        if request.method == "DELETE":
            operation = "delete"
        else:
            operation = query_value(request, "op") or ""
            if not operation:
                raise ApiError(
                    400, "MissingQueryParameter", "Signalling an entity needs the operation name: add ?op=<operation>."
                )
        input_json = operation_input(await read_text(request), is_json_content_type(request))
        await self.service.signal_entity(name, key, operation, input_json)
        return web.Response(status=202)


def operation_input(body: str, is_json: bool) -> str | None:
    """The entity operation input to queue for a signal request body (None when there is no body).

    The Python entity context decodes an input twice (json.loads, then df_loads), so the input must be
    the JSON text of the value's JSON text. The SDK client already sends exactly that (a JSON string
    holding JSON text), and so does a JSON string from any caller; it is kept as sent. Any other JSON
    value (``5``, ``{"a": 1}``) is wrapped once more so the entity receives the value itself; the
    extension passes those through unwrapped, which makes the Python entity's get_input() fail.
    Non-JSON content is the input as a plain string.
    """
    if not body:
        return None
    if not is_json:
        return json.dumps(json.dumps(body))
    require_json(body, "operation input")
    if isinstance(json.loads(body), str):
        return body
    return json.dumps(body)
