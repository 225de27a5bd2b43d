"""Pure parts of the management API: status/history rendering and check-status payloads (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from devhost.durable.client_binding import check_status_payload
from devhost.durable.models import InstanceRecord, RuntimeStatus
from devhost.management.entities import operation_input
from devhost.management.status import format_time, render_history, render_status

HISTORY = [
    {"EventType": 12, "EventId": -1, "Timestamp": "2024-05-01T10:00:00.000000Z"},
    {"EventType": 0, "EventId": -1, "Timestamp": "2024-05-01T10:00:00.000000Z", "Name": "main", "Input": "[1]"},
    {"EventType": 4, "EventId": 0, "Timestamp": "2024-05-01T10:00:00.1Z", "Name": "act", "Input": '"a"'},
    {"EventType": 7, "EventId": 1, "Timestamp": "2024-05-01T10:00:00.2Z", "Name": "child", "InstanceId": "c1"},
    {"EventType": 10, "EventId": 2, "Timestamp": "2024-05-01T10:00:00.3Z", "FireAt": "2024-05-01T10:01:00Z"},
    {"EventType": 13, "EventId": -1, "Timestamp": "2024-05-01T10:00:00.3Z"},
    {"EventType": 12, "EventId": -1, "Timestamp": "2024-05-01T10:00:01.000000Z"},
    {"EventType": 6, "EventId": -1, "Timestamp": "2024-05-01T10:00:01Z", "TaskScheduledId": 0, "Reason": "r"},
    {"EventType": 8, "EventId": -1, "Timestamp": "2024-05-01T10:00:01Z", "TaskScheduledId": 1, "Result": "{}"},
    {"EventType": 11, "EventId": -1, "Timestamp": "2024-05-01T10:01:00Z", "TimerId": 2},
    {"EventType": 15, "EventId": -1, "Timestamp": "2024-05-01T10:01:00Z", "Name": "Go", "Input": "1"},
    {"EventType": 1, "EventId": -1, "Timestamp": "2024-05-01T10:01:00Z", "OrchestrationStatus": 3, "Result": "7"},
]


def test_history_merges_scheduling_into_completions() -> None:
    events = render_history(HISTORY, show_input=True, show_output=True)
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TimerCreated",
        "TaskFailed",
        "SubOrchestrationInstanceCompleted",
        "TimerFired",
        "EventRaised",
        "ExecutionCompleted",
    ]
    started, _timer, failed, child, fired, _raised, completed = events
    assert started["FunctionName"] == "main" and started["Input"] == [1]
    assert failed["FunctionName"] == "act" and failed["Input"] == "a" and failed["Reason"] == "r"
    assert failed["ScheduledTime"] == "2024-05-01T10:00:00.1Z"
    assert child["FunctionName"] == "child" and child["InstanceId"] == "c1" and child["Result"] == {}
    assert "TimerId" not in fired
    assert completed["OrchestrationStatus"] == "Failed" and completed["Result"] == 7
    assert all("EventId" not in e and "TaskScheduledId" not in e for e in events)


def test_history_without_output_or_input() -> None:
    events = render_history(HISTORY, show_input=False, show_output=False)
    assert all("Result" not in e for e in events if e["EventType"] != "TaskFailed")
    assert all("Input" not in e for e in events if e["EventType"] != "EventRaised")


def test_pending_scheduling_event_stays_visible() -> None:
    events = render_history(HISTORY[:6], show_input=True)
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskScheduled",
        "SubOrchestrationInstanceCreated",
        "TimerCreated",
    ]
    assert events[1]["Input"] == "a"


def test_status_object() -> None:
    created = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    record = InstanceRecord(
        instance_id="i",
        execution_id="e",
        name="main",
        runtime_status=RuntimeStatus.FAILED,
        input='"\\"x\\""',
        output=None,
        custom_status='{"step": 2}',
        created_time=created,
        last_updated_time=created + timedelta(seconds=5),
        failure_message="Orchestrator function 'main' failed: boom",
    )
    status = render_status(record)
    assert status == {
        "name": "main",
        "instanceId": "i",
        "runtimeStatus": "Failed",
        "input": '"x"',
        "customStatus": {"step": 2},
        "output": "Orchestrator function 'main' failed: boom",
        "createdTime": "2024-05-01T10:00:00Z",
        "lastUpdatedTime": "2024-05-01T10:00:05Z",
    }
    assert render_status(record, show_input=False, history_events=[])["input"] is None
    assert format_time(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"


def test_check_status_payload_encodes_the_id() -> None:
    payload = check_status_payload("http://h:1/base/", "a b/c", "Hub 1", "Storage")
    assert payload["id"] == "a b/c"
    assert payload["statusQueryGetUri"] == "http://h:1/base/instances/a%20b%2Fc?taskHub=Hub%201&connection=Storage"
    assert payload["resumePostUri"].startswith("http://h:1/base/instances/a%20b%2Fc/resume?reason={text}&")


def test_entity_operation_input_is_double_encoded_once() -> None:
    # What the Python entity's get_input() returns is json.loads then df_loads of the queued input.
    def decoded(text: str | None) -> object:
        return None if text is None else json.loads(json.loads(text))

    assert operation_input("", True) is None
    assert operation_input('"5"', True) == '"5"'  # the SDK client's own encoding is kept
    assert decoded(operation_input('"5"', True)) == 5
    assert decoded(operation_input("5", True)) == 5
    assert decoded(operation_input('{"a": [1]}', True)) == {"a": [1]}
    assert decoded(operation_input("hello", False)) == "hello"
