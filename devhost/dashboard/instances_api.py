"""JSON API for instances: list, detail, history, timeline, and the management actions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.dashboard import params, waiting
from devhost.dashboard.context import FEED, SERVICE, WAITING
from devhost.dashboard.payloads import history_event, instance_detail, instance_summary
from devhost.dashboard.timeline import build_timeline, child_instances
from devhost.durable.models import InstanceRecord
from devhost.errors import InstanceNotFoundError, InstanceStateError, InvalidRequestError

routes = web.RouteTableDef()


def _now() -> datetime:
    return datetime.now(UTC)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty). Requiring application/json keeps plain cross-site
    form posts (which cannot set that type without a CORS preflight) from triggering actions."""
    if not request.can_read_body:
        return {}
    if request.content_type != "application/json":
        raise InvalidRequestError("actions take a JSON body: send Content-Type: application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object")
    return body


async def _existing(request: web.Request) -> InstanceRecord:
    instance_id = request.match_info["instance_id"]
    record = await request.app[SERVICE].get_instance(instance_id)
    if record is None:
        raise InstanceNotFoundError(f"no instance with id {instance_id!r}")
    return record


@routes.get("/api/instances")
async def list_instances(request: web.Request) -> web.Response:
    """One page of instances; pass continuationToken from the previous page for the next one."""
    query_params = {key: value for key, value in request.query.items() if key != "status"}
    query = params.instance_query(query_params, request.query.getall("status", []))
    try:
        page = await request.app[SERVICE].query_instances(query)
    except ValueError as exc:  # a store may reject a token it did not issue
        raise InvalidRequestError(f"continuationToken: {exc}") from None
    now = _now()
    waits = waiting.by_instance(request.app[WAITING]())
    return web.json_response(
        {
            "instances": [_with_waiting(instance_summary(record, now), record, waits) for record in page.instances],
            "continuationToken": page.continuation_token,
            "pageSize": query.page_size,
        }
    )


@routes.get("/api/instances/{instance_id}")
async def get_instance(request: web.Request) -> web.Response:
    """Everything about one instance, with the sub-orchestrations its current execution started."""
    record = await _existing(request)
    history = await request.app[SERVICE].get_history(record.instance_id)
    detail = instance_detail(record, _now(), child_instances(history))
    return web.json_response(_with_waiting(detail, record, waiting.by_instance(request.app[WAITING]())))


def _with_waiting(
    shaped: dict[str, Any], record: InstanceRecord, waits: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """`waitingFor`: the instance's work no connected worker takes ([] once it has ended: nothing of it runs)."""
    shaped["waitingFor"] = [] if record.runtime_status.is_terminal else waits.get(record.instance_id, [])
    return shaped


@routes.get("/api/instances/{instance_id}/history")
async def get_history(request: web.Request) -> web.Response:
    """The current execution's history events, oldest first."""
    record = await _existing(request)
    history = await request.app[SERVICE].get_history(record.instance_id)
    events = [history_event(index, event) for index, event in enumerate(history)]
    return web.json_response({"instanceId": record.instance_id, "events": events}, dumps=_dumps)


@routes.get("/api/instances/{instance_id}/timeline")
async def get_timeline(request: web.Request) -> web.Response:
    """Gantt bars (activities, sub-orchestrations, timers) derived from the history."""
    record = await _existing(request)
    history = await request.app[SERVICE].get_history(record.instance_id)
    timeline = build_timeline(history).to_json()
    timeline.update(
        {"instanceId": record.instance_id, "runtimeStatus": record.runtime_status.value, "now": _now().isoformat()}
    )
    return web.json_response(timeline)


def _dumps(value: Any) -> str:
    # History events may carry values json cannot encode natively (a store's own types); show them as text.
    return json.dumps(value, default=str)


def _accepted(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields}, status=202)


@routes.post("/api/instances")
async def start_instance(request: web.Request) -> web.Response:
    """Start an orchestration: {"name", "instanceId"?, "input"? (any JSON value)}."""
    body = await json_body(request)
    name = params.required_str(body, "name")
    instance_id = params.optional_str(body, "instanceId", max_len=256)
    input_json = params.json_text_or_none(body.get("input"), "input")
    started = await request.app[SERVICE].start_orchestration(name.strip(), instance_id, input_json)
    return _accepted(instanceId=started)


async def _reason_action(request: web.Request, operation: Callable[[str, str | None], Awaitable[None]]) -> web.Response:
    """Terminate, suspend, resume or rewind: body {"reason"?}."""
    body = await json_body(request)
    await operation(request.match_info["instance_id"], params.optional_str(body, "reason"))
    return _accepted()


@routes.post("/api/instances/{instance_id}/terminate")
async def terminate(request: web.Request) -> web.Response:
    """Terminate: {"reason"?}."""
    return await _reason_action(request, request.app[SERVICE].terminate)


@routes.post("/api/instances/{instance_id}/suspend")
async def suspend(request: web.Request) -> web.Response:
    """Suspend: {"reason"?}."""
    return await _reason_action(request, request.app[SERVICE].suspend)


@routes.post("/api/instances/{instance_id}/resume")
async def resume(request: web.Request) -> web.Response:
    """Resume: {"reason"?}."""
    return await _reason_action(request, request.app[SERVICE].resume)


@routes.post("/api/instances/{instance_id}/rewind")
async def rewind(request: web.Request) -> web.Response:
    """Rewind a failed instance: {"reason"?}."""
    return await _reason_action(request, request.app[SERVICE].rewind)


@routes.post("/api/instances/{instance_id}/restart")
async def restart(request: web.Request) -> web.Response:
    """Restart with the same input: {"newInstanceId"?: bool (default true)}."""
    body = await json_body(request)
    new_id = body.get("newInstanceId", True)
    if not isinstance(new_id, bool):
        raise InvalidRequestError("newInstanceId: expected true or false")
    started = await request.app[SERVICE].restart(request.match_info["instance_id"], new_id)
    return _accepted(instanceId=started)


@routes.post("/api/instances/{instance_id}/raise-event")
async def raise_event(request: web.Request) -> web.Response:
    """Raise an external event: {"eventName", "data"? (any JSON value)}."""
    body = await json_body(request)
    event_name = params.required_str(body, "eventName")
    data = params.json_text_or_none(body.get("data"), "data")
    await request.app[SERVICE].raise_event(request.match_info["instance_id"], event_name, data)
    return _accepted()


@routes.post("/api/instances/{instance_id}/purge")
async def purge_one(request: web.Request) -> web.Response:
    """Delete an instance and its history."""
    await json_body(request)
    instance_id = request.match_info["instance_id"]
    deleted = await request.app[SERVICE].purge_instance(instance_id)
    if deleted == 0:
        record = await request.app[SERVICE].get_instance(instance_id)
        if record is not None:
            raise InstanceStateError(
                f"instance {instance_id!r} is {record.runtime_status.value}: only ended instances can be purged"
            )
        raise InstanceNotFoundError(f"no instance with id {instance_id!r}")
    request.app[FEED].poke((instance_id,), "purged")  # a purged row leaves nothing for the feed to notice
    return web.json_response({"ok": True, "instancesDeleted": deleted})


@routes.post("/api/purge")
async def purge_many(request: web.Request) -> web.Response:
    """Delete every ended instance matching {"createdFrom" (required), "createdTo"?, "statuses"? [..]}."""
    body = await json_body(request)
    created_from = params.parse_time(params.required_str(body, "createdFrom"), "createdFrom")
    created_to_text = params.optional_str(body, "createdTo")
    created_to = params.parse_time(created_to_text, "createdTo") if created_to_text else None
    raw_statuses = body.get("statuses") or []
    if not isinstance(raw_statuses, list) or not all(isinstance(s, str) for s in raw_statuses):
        raise InvalidRequestError("statuses: expected a list of status names")
    statuses = params.parse_statuses(raw_statuses, "statuses")
    deleted = await request.app[SERVICE].purge_instances(created_from, created_to, statuses)
    if deleted:
        request.app[FEED].poke(None, "purged")
    return web.json_response({"ok": True, "instancesDeleted": deleted})
