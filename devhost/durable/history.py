"""Protocol history events (PascalCase dicts, durable-protocol.md 1.3) and their timestamps.

Stored events never carry ``IsPlayed``: replay adds it when the context is built, because whether an
event is "played" depends on the episode it is sent in, not on the event itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from devhost.durable.protocol import EventType

#: A history event as stored and as the SDK reads it: wire data, so a plain dict (PascalCase keys).
Event = dict[str, Any]


class ParentInstance(TypedDict):
    """ExecutionStarted's ParentInstance: the parent a sub-orchestration reports its outcome to."""

    InstanceId: str
    ExecutionId: str | None
    TaskScheduledId: int | None


#: Events whose EventId is a sequence id handed out by the SDK (or by the host for retries).
SCHEDULING_TYPES = frozenset(
    {
        EventType.TASK_SCHEDULED,
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.TIMER_CREATED,
        EventType.EVENT_SENT,
    }
)
#: Events that complete a task (the SDK resumes the generator on them).
COMPLETION_TYPES = frozenset(
    {
        EventType.TASK_COMPLETED,
        EventType.TASK_FAILED,
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        EventType.TIMER_FIRED,
        EventType.EVENT_RAISED,
    }
)
#: Events the SDK actually reads during replay (durable-protocol.md 1.4); the rest is bookkeeping and
#: is left out of the context to keep replay of long histories cheap.
SDK_READ_TYPES = frozenset(
    {EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED, EventType.EVENT_SENT, EventType.CONTINUE_AS_NEW}
    | COMPLETION_TYPES
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """Protocol timestamp text (``%Y-%m-%dT%H:%M:%S.%fZ``) of an aware or UTC-naive datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat is much cheaper than strftime("%Y-%m-%dT%H:%M:%S.%fZ") and renders the same text.
    return moment.isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """Parse a protocol timestamp (with 'Z' or an offset, up to 7 fractional digits) to aware UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:
        # .NET writes 7 fractional digits; datetime accepts at most 6.
        digits = ""
        index = 0
        while index < len(rest) and rest[index].isdigit():
            digits += rest[index]
            index += 1
        value = f"{head}.{(digits + '000000')[:6]}{rest[index:]}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware datetime; the store's time unit."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    """Aware UTC datetime from microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=value)


def _event(event_type: EventType, timestamp: str, event_id: int = -1, **fields: Any) -> Event:
    event: Event = {"EventType": event_type, "EventId": event_id, "Timestamp": timestamp}
    event.update(fields)
    return event


def orchestrator_started(timestamp: str) -> Event:
    """OrchestratorStarted: the start of an episode; its timestamp is the orchestration's clock."""
    return _event(EventType.ORCHESTRATOR_STARTED, timestamp)


def orchestrator_completed(timestamp: str) -> Event:
    """OrchestratorCompleted: the end of an episode."""
    return _event(EventType.ORCHESTRATOR_COMPLETED, timestamp)


def execution_started(
    timestamp: str,
    name: str,
    input_json: str | None,
    instance_id: str,
    execution_id: str,
    parent: ParentInstance | None = None,
    version: str = "",
    tags: dict[str, str] | None = None,
) -> Event:
    """ExecutionStarted: the first incoming event of an execution (Version is required by the SDK; Tags, DTFx's
    ExecutionStartedEvent.Tags, only when the client gave some)."""
    event = _event(
        EventType.EXECUTION_STARTED,
        timestamp,
        Name=name,
        Version=version,
        Input=input_json,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
    )
    if tags:
        event["Tags"] = dict(tags)
    return event


def execution_completed(timestamp: str, status_code: int, result_json: str | None) -> Event:
    """ExecutionCompleted with a DTFx OrchestrationStatus integer (RuntimeStatus.orchestration_status_code)."""
    return _event(EventType.EXECUTION_COMPLETED, timestamp, OrchestrationStatus=status_code, Result=result_json)


def execution_terminated(timestamp: str, reason_json: str | None) -> Event:
    """ExecutionTerminated: the instance was terminated from outside."""
    return _event(EventType.EXECUTION_TERMINATED, timestamp, Input=reason_json)


def execution_suspended(timestamp: str, reason: str | None) -> Event:
    """ExecutionSuspended: new events are held until resume."""
    return _event(EventType.EXECUTION_SUSPENDED, timestamp, Reason=reason)


def execution_resumed(timestamp: str, reason: str | None) -> Event:
    """ExecutionResumed: held events flow again."""
    return _event(EventType.EXECUTION_RESUMED, timestamp, Reason=reason)


def task_scheduled(timestamp: str, task_id: int, name: str, input_json: str | None) -> Event:
    """TaskScheduled for an activity with sequence id task_id."""
    return _event(EventType.TASK_SCHEDULED, timestamp, task_id, Name=name, Version="", Input=input_json)


def task_completed(timestamp: str, task_id: int, result_json: str | None) -> Event:
    """TaskCompleted for the activity scheduled as task_id."""
    return _event(EventType.TASK_COMPLETED, timestamp, TaskScheduledId=task_id, Result=result_json)


def task_failed(timestamp: str, task_id: int, reason: str, details: str | None) -> Event:
    """TaskFailed for the activity scheduled as task_id."""
    return _event(EventType.TASK_FAILED, timestamp, TaskScheduledId=task_id, Reason=reason, Details=details)


def sub_orchestration_created(
    timestamp: str, task_id: int, name: str, instance_id: str, input_json: str | None
) -> Event:
    """SubOrchestrationInstanceCreated for the child started as task_id."""
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        timestamp,
        task_id,
        Name=name,
        InstanceId=instance_id,
        Input=input_json,
    )


def sub_orchestration_completed(timestamp: str, task_id: int, result_json: str | None) -> Event:
    """SubOrchestrationInstanceCompleted for the child started as task_id."""
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, timestamp, TaskScheduledId=task_id, Result=result_json
    )


def sub_orchestration_failed(timestamp: str, task_id: int, reason: str, details: str | None) -> Event:
    """SubOrchestrationInstanceFailed for the child started as task_id."""
    return _event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, timestamp, TaskScheduledId=task_id, Reason=reason, Details=details
    )


def timer_created(timestamp: str, timer_id: int, fire_at: str) -> Event:
    """TimerCreated for the timer with sequence id timer_id."""
    return _event(EventType.TIMER_CREATED, timestamp, timer_id, FireAt=fire_at)


def timer_fired(timestamp: str, timer_id: int, fire_at: str) -> Event:
    """TimerFired for the timer timer_id."""
    return _event(EventType.TIMER_FIRED, timestamp, TimerId=timer_id, FireAt=fire_at)


def event_sent(timestamp: str, task_id: int, target: str, name: str, input_json: str | None) -> Event:
    """EventSent: an entity operation (signal or call) sent as task_id to target ('@name@key'), or an external
    event sent to another instance."""
    return _event(EventType.EVENT_SENT, timestamp, task_id, InstanceId=target, Name=name, Input=input_json)


def event_raised(timestamp: str, name: str, input_json: str | None) -> Event:
    """EventRaised: an external event (or an entity call's reply, named by its request id)."""
    return _event(EventType.EVENT_RAISED, timestamp, Name=name, Input=input_json)


def completion_key(event: Event) -> int | str | None:
    """The open-task key a completion event targets (TaskScheduledId, TimerId or event Name)."""
    event_type = event["EventType"]
    if event_type == EventType.TIMER_FIRED:
        return event.get("TimerId")
    if event_type == EventType.EVENT_RAISED:
        return event.get("Name")
    if event_type in COMPLETION_TYPES:
        return event.get("TaskScheduledId")
    return None
