"""JSON shapes of the dashboard API: instance records and history events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devhost.durable.models import InstanceRecord
from devhost.durable.protocol import history_name
from devhost.management.status import json_value


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 text with milliseconds and a 'Z' (naive datetimes are taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_datetime(value: Any) -> datetime | None:
    """A history timestamp (datetime or ISO text, .NET's 7 fractional digits allowed) as aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration_ms(record: InstanceRecord, now: datetime) -> int | None:
    """Run time: creation to completion, or to now while the instance has not ended."""
    end = (record.completed_time or record.last_updated_time) if record.runtime_status.is_terminal else now
    created = record.created_time if record.created_time.tzinfo else record.created_time.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return max(0, round((end - created).total_seconds() * 1000))


def instance_summary(record: InstanceRecord, now: datetime) -> dict[str, Any]:
    """The list row of an instance (no input or output: keeps list pages small)."""
    return {
        "instanceId": record.instance_id,
        "executionId": record.execution_id,
        "name": record.name,
        "runtimeStatus": record.runtime_status.value,
        "createdTime": iso(record.created_time),
        "lastUpdatedTime": iso(record.last_updated_time),
        "completedTime": iso(record.completed_time),
        "durationMs": duration_ms(record, now),
        "parentInstanceId": record.parent_instance_id,
        "isTerminal": record.runtime_status.is_terminal,
    }


def instance_detail(record: InstanceRecord, now: datetime, children: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything about an instance: the summary plus parsed input, output, custom status and failure."""
    detail = instance_summary(record, now)
    detail.update(
        {
            "input": json_value(record.input),
            "output": json_value(record.output),
            "customStatus": json_value(record.custom_status),
            "failureMessage": record.failure_message,
            "children": children,
            "tags": record.tags or {},
        }
    )
    return detail


def history_event(index: int, event: dict[str, Any]) -> dict[str, Any]:
    """A stored history event for display: every original field plus its type name and a UTC timestamp."""
    shaped: dict[str, Any] = {"index": index}
    for key, value in event.items():
        shaped[key] = iso(value) if isinstance(value, datetime) else value
    event_type = event.get("EventType")
    shaped["EventTypeName"] = (
        (history_name(event_type) or f"Unknown({event_type})") if isinstance(event_type, int) else str(event_type)
    )
    stamp = to_datetime(event.get("Timestamp"))
    shaped["Timestamp"] = iso(stamp) if stamp else event.get("Timestamp")
    return shaped
