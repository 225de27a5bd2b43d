"""Render instance records and their history as the Durable HTTP API's JSON (durable-protocol.md 5.1, 5.2)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from devhost.durable.models import InstanceRecord, JsonValue, RuntimeStatus
from devhost.durable.protocol import EventType, history_name

#: Completion event type -> the scheduling event type it answers.
_SCHEDULED_BY: dict[int, EventType] = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_SCHEDULING = (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
_EPISODE_MARKERS = (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED)
_RESULT_EVENTS = frozenset(
    {EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, EventType.EXECUTION_COMPLETED}
)
_BOOKKEEPING_KEYS = ("EventId", "IsPlayed", "TaskScheduledId", "TimerId")
_STATUS_NAMES = {status.orchestration_status_code: status.value for status in RuntimeStatus}

#: One entry of the API's historyEvents: a history event renamed and trimmed for display (wire data, a dict).
RenderedEvent = dict[str, Any]


class InstanceStatus(TypedDict):
    """The status object of one instance (durable-protocol.md 5.1), as render_status builds it."""

    name: str
    instanceId: str
    runtimeStatus: str
    input: JsonValue
    customStatus: JsonValue
    output: JsonValue
    createdTime: str
    lastUpdatedTime: str
    historyEvents: NotRequired[list[RenderedEvent]]
    #: historyEvents again, under the name the SDK's DurableOrchestrationStatus reads (RPC answers only).
    history: NotRequired[list[RenderedEvent]]


def format_time(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` in UTC (naive datetimes are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def event_type_name(event_type: int) -> str:
    """The HistoryEventType name of an integer event type (the number itself as text when unknown)."""
    return history_name(event_type) or str(event_type)


def orchestration_status_name(code: int) -> str:
    """The OrchestrationStatus name of a DTFx status integer (ExecutionCompleted.OrchestrationStatus)."""
    return _STATUS_NAMES.get(code, str(code))


def json_value(text: str | None) -> JsonValue:
    """Parse stored JSON text into a JSON value; None stays None and non-JSON text is shown as a string."""
    if text is None:
        return None
    try:
        value: JsonValue = json.loads(text)
    except ValueError:
        return text
    return value


def render_status(
    record: InstanceRecord, *, show_input: bool = True, history_events: list[RenderedEvent] | None = None
) -> InstanceStatus:
    """The status object of one instance; historyEvents is included only when history_events is given."""
    if record.runtime_status is RuntimeStatus.FAILED and record.failure_message is not None:
        output: JsonValue = record.failure_message
    else:
        output = json_value(record.output)
    status: InstanceStatus = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status.value,
        "input": json_value(record.input) if show_input else None,
        "customStatus": json_value(record.custom_status),
        "output": output,
        "createdTime": format_time(record.created_time),
        "lastUpdatedTime": format_time(record.last_updated_time),
    }
    if history_events is not None:
        status["historyEvents"] = history_events
    return status


def render_history(
    events: Iterable[Mapping[str, Any]], *, show_input: bool = True, show_output: bool = False
) -> list[RenderedEvent]:
    """The API's historyEvents list: scheduling merged into completions, bookkeeping dropped, names shown."""
    source = list(events)
    scheduled: dict[tuple[int, int], Mapping[str, Any]] = {}
    for event in source:
        kind = event.get("EventType")
        if kind in _SCHEDULING and isinstance(event.get("EventId"), int):
            scheduled[(kind, event["EventId"])] = event

    # A scheduling event is shown on its own only while its completion has not arrived.
    answered = {
        (_SCHEDULED_BY[e["EventType"]], e.get("TaskScheduledId")) for e in source if e.get("EventType") in _SCHEDULED_BY
    }
    rendered: list[RenderedEvent] = []
    for event in source:
        kind = event.get("EventType")
        if not isinstance(kind, int) or kind in _EPISODE_MARKERS:
            continue
        if (kind, event.get("EventId")) in answered:
            continue
        item = dict(event)
        if kind in _SCHEDULED_BY:
            origin = scheduled.get((_SCHEDULED_BY[kind], item.get("TaskScheduledId", -1)))
            if origin is not None:
                _merge_scheduling(item, origin, show_input)
        elif kind == EventType.EXECUTION_STARTED:
            if "Name" in item:
                item["FunctionName"] = item.pop("Name")
            for internal in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(internal, None)
            if show_input:
                item["Input"] = json_value(item.get("Input"))
            else:
                item.pop("Input", None)
        elif kind == EventType.EXECUTION_COMPLETED and isinstance(item.get("OrchestrationStatus"), int):
            item["OrchestrationStatus"] = orchestration_status_name(item["OrchestrationStatus"])
        elif kind in _SCHEDULING:
            item.pop("Version", None)
            if show_input:
                item["Input"] = json_value(item.get("Input"))
            else:
                item.pop("Input", None)
        if kind in _RESULT_EVENTS:
            if show_output:
                item["Result"] = json_value(item.get("Result"))
            else:
                item.pop("Result", None)
        for key_name in _BOOKKEEPING_KEYS:
            item.pop(key_name, None)
        item["EventType"] = event_type_name(kind)
        rendered.append(item)
    return rendered


def _merge_scheduling(item: RenderedEvent, origin: Mapping[str, Any], show_input: bool) -> None:
    item["FunctionName"] = origin.get("Name")
    item["ScheduledTime"] = origin.get("Timestamp")
    if origin.get("EventType") == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED and origin.get("InstanceId") is not None:
        item.setdefault("InstanceId", origin.get("InstanceId"))
    if show_input:
        item["Input"] = json_value(origin.get("Input"))
