"""The collector's windowed scan and exactly-once recording, against an in-memory instance list.

The in-memory list answers like the Durable list API: both window bounds inclusive, at most one page
of 100, ordered by instance id rather than by time (as the Azure Storage provider does), so the scan
must not rely on ordering.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from hello_cities.collector import (
    PAGE_SIZE,
    SETTLE_TIME,
    CollectorError,
    CompletedRun,
    InstanceSnapshot,
    RecordedCache,
    ScanMemory,
    Watermark,
    next_watermark,
    plan_windows,
    run_collection_pass,
    scan_created_between,
)
from hello_cities.durable_source import snapshot_of

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


@dataclass
class FakeHost:
    """Instances by id, listed one page at a time; counts its queries."""

    instances: dict[str, InstanceSnapshot] = field(default_factory=dict)
    queries: int = 0
    rows_listed: int = 0

    async def list_window(self, start: datetime, end: datetime) -> Sequence[InstanceSnapshot]:
        self.queries += 1
        await asyncio.sleep(0)  # let concurrent passes interleave
        matching = sorted(
            (i for i in self.instances.values() if start <= i.created_time <= end), key=lambda i: i.instance_id
        )
        self.rows_listed += min(len(matching), PAGE_SIZE)
        return matching[:PAGE_SIZE]

    def add(
        self, instance_id: str, created: datetime, status: str = "Completed", name: str = "chaining_orchestration"
    ) -> None:
        self.instances[instance_id] = InstanceSnapshot(
            instance_id, name, status, created, created + timedelta(seconds=1), output=[f"out {instance_id}"]
        )

    def complete(self, instance_id: str, at: datetime) -> None:
        self.instances[instance_id] = replace(
            self.instances[instance_id], runtime_status="Completed", last_updated_time=at
        )


@dataclass
class MemorySink:
    """ResultSink with the table's semantics: conditional insert, etag-guarded watermark."""

    rows: dict[str, CompletedRun] = field(default_factory=dict)
    inserts: int = 0
    watermark: Watermark | None = None
    version: int = 0

    async def load_watermark(self) -> Watermark | None:
        return self.watermark

    async def record_many(self, runs: Sequence[CompletedRun]) -> list[bool]:
        outcomes = []
        for run in runs:
            self.inserts += 1
            await asyncio.sleep(0)
            outcomes.append(run.instance_id not in self.rows)
            self.rows.setdefault(run.instance_id, run)
        return outcomes

    async def save_watermark(self, previous: Watermark | None, value: datetime) -> bool:
        current_etag = self.watermark.etag if self.watermark else None
        if (previous.etag if previous else None) != current_etag:
            return False
        self.version += 1
        self.watermark = Watermark(value, etag=str(self.version))
        return True


async def test_scan_pages_through_dense_windows_without_missing_or_relying_on_order() -> None:
    host = FakeHost()
    rng = random.Random(7)
    for n in range(1_000):
        host.add(f"{rng.random():.12f}-{n}", T0 + timedelta(microseconds=rng.randrange(0, 5_000_000)))
    # 150 instances created in the very same second as each other, and some sharing a timestamp exactly.
    for n in range(150):
        host.add(f"burst-{n}", T0 + timedelta(seconds=2, microseconds=n // 2))
    result = await scan_created_between(host.list_window, T0, T0 + timedelta(seconds=10))
    assert set(result.instances) == set(host.instances)
    assert result.queries == host.queries
    assert result.queries < 120  # 1,150 instances, 100 per page: bisection stays proportionate


async def test_scan_refuses_to_silently_truncate_a_window_it_cannot_split() -> None:
    host = FakeHost()
    for n in range(PAGE_SIZE):
        host.add(f"same-{n}", T0)
    with pytest.raises(CollectorError, match="cannot page through them"):
        await scan_created_between(host.list_window, T0, T0)


async def test_each_completed_run_is_recorded_once_across_passes_including_long_runners() -> None:
    host, sink, cache = FakeHost(), MemorySink(), RecordedCache()
    for n in range(250):
        host.add(f"done-{n:03d}", T0 + timedelta(milliseconds=10 * n))
    host.add("slow", T0 + timedelta(seconds=1), status="Running")
    host.add("other-app", T0 + timedelta(seconds=1), name="someone_elses_orchestration")
    host.add("failed", T0 + timedelta(seconds=1), status="Failed")

    now = T0 + timedelta(minutes=1)
    first = await run_collection_pass(host.list_window, sink, cache, now=now)
    assert first.recorded == 250
    assert first.not_terminal == 1
    # The still-running instance holds the watermark back to (at most) its creation time.
    assert first.watermark <= T0 + timedelta(seconds=1)
    assert set(sink.rows) == {f"done-{n:03d}" for n in range(250)}

    # "slow" finishes after the first pass; new runs arrive too.
    host.complete("slow", now + timedelta(seconds=5))
    host.add("late", now + timedelta(seconds=3))
    second = await run_collection_pass(host.list_window, sink, cache, now=now + timedelta(seconds=20))
    assert second.recorded == 2
    assert {"slow", "late"} <= set(sink.rows)
    assert sink.rows["slow"].orchestration == "chaining"
    assert sink.rows["slow"].completed_time == now + timedelta(seconds=5)
    # Nothing left running: the watermark moves up to now minus the settle time.
    assert second.watermark == now + timedelta(seconds=20) - SETTLE_TIME

    third = await run_collection_pass(host.list_window, sink, cache, now=now + timedelta(seconds=30))
    assert third.recorded == 0
    assert len(sink.rows) == 252
    assert "other-app" not in sink.rows and "failed" not in sink.rows


async def test_concurrent_passes_and_a_cold_cache_never_record_twice() -> None:
    host, sink = FakeHost(), MemorySink()
    for n in range(300):
        host.add(f"run-{n:03d}", T0 + timedelta(milliseconds=7 * n), name="fan_out_fan_in_orchestration")
    now = T0 + timedelta(minutes=5)
    reports = await asyncio.gather(
        *(run_collection_pass(host.list_window, sink, RecordedCache(), now=now) for _ in range(3))
    )
    assert sum(r.recorded for r in reports) == 300
    assert sum(r.watermark_saved for r in reports) == 1
    assert {run.orchestration for run in sink.rows.values()} == {"fanout"}
    # A new worker process (empty cache) rescanning from an old watermark inserts nothing new.
    sink.watermark = Watermark(T0, etag=sink.watermark.etag if sink.watermark else None)
    again = await run_collection_pass(host.list_window, sink, RecordedCache(), now=now)
    assert again.recorded == 0 and again.already_recorded == 300


async def test_cache_spares_inserts_on_rescans() -> None:
    host, sink, cache = FakeHost(), MemorySink(), RecordedCache()
    host.add("a", T0)
    host.add("b", T0, status="Running")  # pins the watermark, so every pass rescans "a"
    for seconds in (60, 70, 80):
        await run_collection_pass(host.list_window, sink, cache, now=T0 + timedelta(seconds=seconds))
    assert sink.inserts == 1


def test_planned_windows_cover_the_range_and_split_crowded_seconds() -> None:
    start, end = T0 + timedelta(milliseconds=300), T0 + timedelta(seconds=8)
    per_second = {T0: 20, T0 + timedelta(seconds=1): 50, T0 + timedelta(seconds=2): 250, T0 + timedelta(seconds=5): 10}
    windows = plan_windows(start, end, per_second, fill=60)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(windows))  # consecutive, no gaps
    assert all(low < high for low, high in windows)
    # Second 0 and 1 (70 together) do not share a window; second 2 (250) is cut into 5 parts.
    assert (start, T0 + timedelta(seconds=1)) in windows
    crowded = [w for w in windows if T0 + timedelta(seconds=2) <= w[0] and w[1] <= T0 + timedelta(seconds=3)]
    assert len(crowded) == 5
    assert plan_windows(start, end, {}) == [(start, end)]


async def test_frequent_passes_with_memory_rescan_less_and_still_record_everything_once() -> None:
    """A stream of runs, a pass every second: with memory, quick passes cut the queries, and a run that
    becomes visible late (created in a part quick passes no longer scan) is found by the next full pass."""
    rng = random.Random(3)
    outcomes: dict[bool, tuple[int, int, int, dict[str, CompletedRun]]] = {}
    for with_memory in (False, True):
        host, sink, cache = FakeHost(), MemorySink(), RecordedCache()
        memory = ScanMemory() if with_memory else None
        quick = 0
        for second in range(40):
            now = T0 + timedelta(seconds=second)
            for n in range(120 if second < 20 else 0):  # 120 runs a second for 20 s, each running for 1-3 s
                created = now - timedelta(microseconds=rng.randrange(0, 1_000_000))
                host.add(f"run-{second}-{n}", created, status="Running")
            for instance in list(host.instances.values()):
                if instance.runtime_status == "Running" and instance.created_time < now - timedelta(seconds=2):
                    host.complete(instance.instance_id, now)
            if second == 25:  # created 4 s ago, visible only now: behind where quick passes start
                host.add("late", now - timedelta(seconds=4))
            report = await run_collection_pass(host.list_window, sink, cache, now=now, memory=memory)
            quick += report.quick
        outcomes[with_memory] = (host.queries, host.rows_listed, quick, sink.rows)
    plain_queries, plain_listed, plain_quick, plain_rows = outcomes[False]
    memory_queries, memory_listed, memory_quick, memory_rows = outcomes[True]
    assert plain_quick == 0 and memory_quick > 25
    assert set(memory_rows) == set(plain_rows) and "late" in memory_rows and len(memory_rows) == 2_401
    assert memory_queries < plain_queries * 0.6, (memory_queries, plain_queries)
    assert memory_listed < plain_listed * 0.4, (memory_listed, plain_listed)


async def test_a_quick_pass_leaves_the_stored_watermark_alone() -> None:
    host, sink, cache, memory = FakeHost(), MemorySink(), RecordedCache(), ScanMemory()
    host.add("a", T0)
    full = await run_collection_pass(host.list_window, sink, cache, now=T0 + timedelta(seconds=30), memory=memory)
    host.add("b", T0 + timedelta(seconds=31))
    quick = await run_collection_pass(host.list_window, sink, cache, now=T0 + timedelta(seconds=32), memory=memory)
    assert not full.quick and full.watermark_saved
    assert quick.quick and not quick.watermark_saved and quick.recorded == 1
    assert sink.watermark is not None and sink.watermark.value == full.watermark
    # SETTLE_TIME after the full pass, the next one is full again, and so is one that a timer firing every
    # SETTLE_TIME starts a few milliseconds short of it.
    later = await run_collection_pass(host.list_window, sink, cache, now=T0 + timedelta(seconds=40), memory=memory)
    assert not later.quick and later.watermark_saved
    early = T0 + timedelta(seconds=49, milliseconds=995)
    jittered = await run_collection_pass(host.list_window, sink, cache, now=early, memory=memory)
    assert not jittered.quick and jittered.watermark_saved


def test_next_watermark_takes_the_earliest_unfinished_instance() -> None:
    def snapshot(instance_id: str, created: datetime, status: str) -> InstanceSnapshot:
        return InstanceSnapshot(instance_id, "chaining_orchestration", status, created, created)

    scanned_to = T0 + timedelta(hours=1)
    assert next_watermark([], scanned_to) == scanned_to - SETTLE_TIME
    instances = [
        snapshot("a", T0 + timedelta(minutes=5), "Running"),
        snapshot("b", T0 + timedelta(minutes=1), "Pending"),
        snapshot("c", T0, "Completed"),
        snapshot("d", T0, "Terminated"),
    ]
    assert next_watermark(instances, scanned_to) == T0 + timedelta(minutes=1) - timedelta(seconds=1)


def test_recorded_cache_is_bounded() -> None:
    cache = RecordedCache(max_size=2)
    for instance_id in ("a", "b", "c"):
        cache.add(instance_id)
    assert len(cache) == 2 and "a" not in cache and "c" in cache


def test_status_objects_from_the_sdk_become_snapshots() -> None:
    status = DurableOrchestrationStatus.from_json(
        {
            "name": "fan_out_fan_in_orchestration",
            "instanceId": "abc",
            "runtimeStatus": "Completed",
            "input": None,
            "customStatus": None,
            "output": ["Hello Tokyo!"],
            "createdTime": "2024-05-01T10:00:00Z",
            "lastUpdatedTime": "2024-05-01T10:00:02Z",
        }
    )
    snapshot = snapshot_of(status)
    assert snapshot == InstanceSnapshot(
        "abc", "fan_out_fan_in_orchestration", "Completed", T0, T0 + timedelta(seconds=2), ["Hello Tokyo!"]
    )
    with pytest.raises(CollectorError):
        snapshot_of(DurableOrchestrationStatus.from_json({"instanceId": "x", "runtimeStatus": "Running"}))
