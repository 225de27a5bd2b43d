"""Turn an instance's history into Gantt bars: one per activity, sub-orchestration and timer.

Pure: history in (protocol events, durable-protocol.md 1.3), bars out. A scheduling event opens a bar
keyed by its sequence id (EventId); the completion carrying that id (TaskScheduledId / TimerId) closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devhost.dashboard.payloads import iso, to_datetime
from devhost.durable.protocol import EventType

_OPENERS: dict[int, str] = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "suborchestration",
    EventType.TIMER_CREATED: "timer",
}
#: completion event type -> (kind it closes, outcome, field holding the sequence id)
_CLOSERS: dict[int, tuple[str, str, str]] = {
    EventType.TASK_COMPLETED: ("activity", "completed", "TaskScheduledId"),
    EventType.TASK_FAILED: ("activity", "failed", "TaskScheduledId"),
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: ("suborchestration", "completed", "TaskScheduledId"),
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: ("suborchestration", "failed", "TaskScheduledId"),
    EventType.TIMER_FIRED: ("timer", "completed", "TimerId"),
}
_END_EVENTS = {EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED, EventType.EXECUTION_TERMINATED}
_LABEL_LIMIT = 80


@dataclass
class TimelineBar:
    """One task's span. end is None while the task has not finished."""

    kind: str
    task_id: int
    name: str
    start: datetime
    end: datetime | None = None
    outcome: str = "running"
    instance_id: str | None = None
    label: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """API shape (camelCase, ISO times)."""
        return {
            "kind": self.kind,
            "taskId": self.task_id,
            "name": self.name,
            "start": iso(self.start),
            "end": iso(self.end),
            "outcome": self.outcome,
            "instanceId": self.instance_id,
            "label": self.label,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Timeline:
    """Bars plus the execution's own span and the external events it received."""

    started: datetime | None
    ended: datetime | None
    bars: list[TimelineBar]
    events: list[tuple[datetime, str]]

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "start": iso(self.started),
            "end": iso(self.ended),
            "bars": [bar.to_json() for bar in self.bars],
            "events": [{"time": iso(at), "name": name} for at, name in self.events],
        }


def _short(text: Any) -> str | None:
    if text is None:
        return None
    value = str(text)
    return value if len(value) <= _LABEL_LIMIT else value[: _LABEL_LIMIT - 1] + "…"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_timeline(history: list[dict[str, Any]]) -> Timeline:
    """Bars in scheduling order (then by sequence id); unmatched completions are ignored."""
    open_bars: dict[tuple[str, int], TimelineBar] = {}
    bars: list[TimelineBar] = []
    events: list[tuple[datetime, str]] = []
    started: datetime | None = None
    ended: datetime | None = None
    for event in history:
        event_type = _int(event.get("EventType"))
        stamp = to_datetime(event.get("Timestamp"))
        if event_type is None or stamp is None:
            continue
        if event_type == EventType.EXECUTION_STARTED and started is None:
            started = stamp
        elif event_type in _END_EVENTS:
            ended = stamp
        elif event_type == EventType.EVENT_RAISED:
            events.append((stamp, str(event.get("Name") or "")))
        elif event_type in _OPENERS:
            task_id = _int(event.get("EventId"))
            if task_id is None:
                continue
            kind = _OPENERS[event_type]
            bar = TimelineBar(kind=kind, task_id=task_id, name=str(event.get("Name") or kind), start=stamp)
            if kind == "timer":
                bar.name = "timer"
                bar.label = f"fires at {iso(to_datetime(event.get('FireAt')))}"
            else:
                bar.label = _short(event.get("Input"))
            if kind == "suborchestration":
                bar.instance_id = event.get("InstanceId")
            open_bars[(kind, task_id)] = bar
            bars.append(bar)
        elif event_type in _CLOSERS:
            kind, outcome, id_field = _CLOSERS[event_type]
            task_id = _int(event.get(id_field))
            bar_or_none = open_bars.pop((kind, task_id), None) if task_id is not None else None
            if bar_or_none is None:
                continue
            bar_or_none.end = max(stamp, bar_or_none.start)
            bar_or_none.outcome = outcome
            if outcome == "failed":
                bar_or_none.detail = _short(event.get("Reason"))
    if ended is not None:
        # The execution ended (e.g. terminated) with tasks still open: they will never finish.
        for bar in open_bars.values():
            bar.outcome = "abandoned"
    bars.sort(key=lambda bar: (bar.start, bar.task_id))
    return Timeline(started=started, ended=ended, bars=bars, events=events)


def child_instances(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sub-orchestrations the execution started, in order: instance id and orchestrator name."""
    return [
        {"instanceId": event.get("InstanceId"), "name": event.get("Name")}
        for event in history
        if event.get("EventType") == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED and event.get("InstanceId")
    ]
