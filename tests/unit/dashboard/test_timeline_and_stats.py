"""Pure parts of the dashboard: history -> timeline bars, percentiles, completion buckets, parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.dashboard.params import instance_query
from devhost.dashboard.storage import decode_content, validate_queue_name
from devhost.dashboard.timeline import build_timeline, child_instances
from devhost.durable.models import RuntimeStatus
from devhost.durable.statistics import activity_durations, bucket_counts, percentiles
from devhost.errors import InvalidRequestError

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def at(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(event_type: int, ms: int, event_id: int = -1, **fields: object) -> dict[str, object]:
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": at(ms), **fields}


HISTORY = [
    event(12, 0),
    event(0, 0, Name="orch", Input=None, Version=""),
    event(4, 10, 0, Name="hello", Input='"Tokyo"'),
    event(4, 10, 1, Name="hello", Input='"Lima"'),
    event(7, 10, 2, Name="child", InstanceId="abc:2", Input=None),
    event(10, 10, 3, FireAt=at(5000)),
    event(13, 10),
    event(12, 400),
    event(5, 300, TaskScheduledId=1, Result='"Hello Lima!"'),
    event(6, 390, TaskScheduledId=0, Reason="boom", Details="trace"),
    event(5, 395, TaskScheduledId=99, Result="1"),  # unmatched: ignored
    event(15, 398, Name="Approval", Input="true"),
    event(13, 400),
    event(12, 900),
    event(8, 800, TaskScheduledId=2, Result="2"),
]


def test_timeline_pairs_scheduling_and_completion_events() -> None:
    timeline = build_timeline(HISTORY)
    bars = {(bar.kind, bar.task_id): bar for bar in timeline.bars}
    assert set(bars) == {("activity", 0), ("activity", 1), ("suborchestration", 2), ("timer", 3)}
    assert bars[("activity", 0)].outcome == "failed" and bars[("activity", 0)].detail == "boom"
    assert bars[("activity", 1)].end == T0 + timedelta(milliseconds=300)
    assert bars[("activity", 1)].label == '"Lima"'
    assert bars[("suborchestration", 2)].instance_id == "abc:2"
    assert bars[("timer", 3)].outcome == "running" and bars[("timer", 3)].end is None
    assert timeline.events == [(T0 + timedelta(milliseconds=398), "Approval")]
    assert timeline.started == T0 and timeline.ended is None
    assert child_instances(HISTORY) == [{"instanceId": "abc:2", "name": "child"}]


def test_timeline_marks_open_tasks_abandoned_once_the_execution_ended() -> None:
    ended = [*HISTORY, event(3, 1000)]
    timeline = build_timeline(ended)
    assert timeline.ended == T0 + timedelta(seconds=1)
    assert [bar.outcome for bar in timeline.bars if bar.kind == "timer"] == ["abandoned"]
    json_bars = timeline.to_json()["bars"]
    assert json_bars[0]["start"] == "2024-05-01T10:00:00.010Z"


def test_activity_durations_and_percentiles() -> None:
    assert sorted(activity_durations(HISTORY)) == [290.0, 380.0]
    assert percentiles([]) == {"count": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    result = percentiles([float(n) for n in range(1, 101)])
    assert (result["count"], result["p50"], result["p95"], result["p99"], result["max"]) == (100, 50, 95, 99, 100)


def test_bucket_counts_cover_the_window_with_empty_buckets() -> None:
    now = datetime(2024, 5, 1, 10, 0, 59, tzinfo=UTC)
    times = [now - timedelta(seconds=s) for s in (0, 1, 15, 65, 300)]
    buckets = bucket_counts(times, now, window_s=60, bucket_s=10)
    assert len(buckets) == 6
    assert buckets[-1] == (datetime(2024, 5, 1, 10, 0, 50, tzinfo=UTC), 2)
    assert [count for _, count in buckets] == [0, 0, 0, 0, 1, 2]


def test_instance_query_parameters() -> None:
    query = instance_query(
        {"name": "fan", "prefix": "ab", "hideSub": "1", "sort": "oldest", "pageSize": "25"}, ["Running,failed"]
    )
    assert query.statuses == frozenset({RuntimeStatus.RUNNING, RuntimeStatus.FAILED})
    assert (query.name, query.instance_id_prefix, query.page_size) == ("fan", "ab", 25)
    assert query.include_sub_orchestrations is False and query.newest_first is False
    assert instance_query({}, []).newest_first is True
    naive = instance_query({"createdFrom": "2024-05-01T12:00:00"}, [])
    assert naive.created_from == datetime(2024, 5, 1, 12, tzinfo=UTC)
    with pytest.raises(InvalidRequestError, match="pageSize"):
        instance_query({"pageSize": "501"}, [])


def test_queue_names_and_message_decoding() -> None:
    assert validate_queue_name("cities-poison") == "cities-poison"
    for bad in ("Cities", "a", "two--hyphens", "-lead", "x" * 64):
        with pytest.raises(InvalidRequestError):
            validate_queue_name(bad)
    decoded = decode_content("eyJjaXR5IjogIlRva3lvIn0=")
    assert (decoded["encoding"], decoded["json"]) == ("base64", {"city": "Tokyo"})
    assert decode_content("not base64")["encoding"] == "text"
    assert decode_content('{"a": 1}')["json"] == {"a": 1}


def test_every_api_route_is_documented_in_the_readme() -> None:
    from pathlib import Path
    from typing import Any, cast

    from devhost.dashboard.app import DashboardSettings, create_dashboard_app

    app = create_dashboard_app(cast(Any, object()), settings=DashboardSettings(), stats=cast(Any, object()))
    readme = (Path(__file__).resolve().parents[3] / "devhost" / "dashboard" / "README.md").read_text()
    routes = {
        resource.canonical.replace("{instance_id}", "{id}").replace("{message_id}", "{messageId}")
        for resource in app.router.resources()
        if resource.canonical.startswith("/api/") and "{tail" not in resource.canonical
    }
    assert routes, "no API routes found"
    # The README writes the poison queue as {name}-poison in the requeue route.
    readme = readme.replace("{name}-poison", "{name}")
    missing = sorted(route for route in routes if route not in readme)
    assert missing == [], f"routes missing from devhost/dashboard/README.md: {missing}"
