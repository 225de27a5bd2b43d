"""The protocol constants match the SDK's numbering and stay plain numbers on the wire."""

from __future__ import annotations

import json

from azure.durable_functions.models.actions.ActionType import ActionType as SdkActionType
from azure.durable_functions.models.history import HistoryEventType

from devhost.dashboard.payloads import history_event
from devhost.durable import history as h
from devhost.durable.protocol import ActionType, EventType, history_name
from devhost.management.status import event_type_name

#: The names the management API and the dashboard showed before they were derived (durable-protocol.md 1.3).
NAMES = [
    "ExecutionStarted",
    "ExecutionCompleted",
    "ExecutionFailed",
    "ExecutionTerminated",
    "TaskScheduled",
    "TaskCompleted",
    "TaskFailed",
    "SubOrchestrationInstanceCreated",
    "SubOrchestrationInstanceCompleted",
    "SubOrchestrationInstanceFailed",
    "TimerCreated",
    "TimerFired",
    "OrchestratorStarted",
    "OrchestratorCompleted",
    "EventSent",
    "EventRaised",
    "ContinueAsNew",
    "GenericEvent",
    "HistoryState",
    "ExecutionSuspended",
    "ExecutionResumed",
]


def test_numbers_match_the_sdk() -> None:
    assert {m.name: m.value for m in EventType} == {m.name: m.value for m in HistoryEventType}
    sdk_actions = {name: getattr(SdkActionType, name) for name in dir(SdkActionType) if name.isupper()}
    assert {m.name: m.value for m in ActionType} == sdk_actions


def test_history_names() -> None:
    assert [history_name(number) for number in range(len(NAMES))] == NAMES
    assert [EventType(number).history_name for number in range(len(NAMES))] == NAMES
    assert history_name(21) is None and history_name(-1) is None
    assert event_type_name(7) == "SubOrchestrationInstanceCreated" and event_type_name(99) == "99"
    assert history_event(0, {"EventType": 99})["EventTypeName"] == "Unknown(99)"


def test_events_serialize_as_plain_numbers() -> None:
    event = h.task_scheduled("2026-01-01T00:00:00.000000Z", 3, "a", None)
    text = json.dumps(event, separators=(",", ":"))
    assert text.startswith('{"EventType":4,"EventId":3,')
    assert type(json.loads(text)["EventType"]) is int
