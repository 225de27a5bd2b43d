"""Aggregates over a task hub (counts, completion rate, activity durations) answered by the store.

The dashboard's overview reads these; every query is bounded so it stays fast at 100,000 instances,
and answers are cached briefly because several browser tabs poll at once.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from devhost.durable.history import Event, from_us, parse_ts, to_us
from devhost.durable.models import RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.durable.store import queries as q
from devhost.durable.store.sqlite import SqliteStore

#: Keys of activity_duration_percentiles(): sample size and percentiles in milliseconds.
PERCENTILE_KEYS = ("count", "p50", "p90", "p95", "p99", "max")
#: How many recently created, ended instances the activity percentiles are taken over.
DURATION_SAMPLE_INSTANCES = 200

T = TypeVar("T")


def percentiles(durations_ms: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles of a sample, keyed as PERCENTILE_KEYS."""
    if not durations_ms:
        return dict.fromkeys(PERCENTILE_KEYS, 0.0)
    ordered = sorted(durations_ms)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "count": float(len(ordered)),
        "p50": rank(50),
        "p90": rank(90),
        "p95": rank(95),
        "p99": rank(99),
        "max": ordered[-1],
    }


def bucket_counts(times: list[datetime], now: datetime, window_s: int, bucket_s: int) -> list[tuple[datetime, int]]:
    """Count times into fixed buckets covering (now - window_s, now], aligned to bucket_s."""
    bucket_count = max(1, math.ceil(window_s / bucket_s))
    end_epoch = math.floor(now.timestamp() / bucket_s) * bucket_s + bucket_s
    first_epoch = end_epoch - bucket_count * bucket_s
    counts = [0] * bucket_count
    for moment in times:
        index = int((moment.timestamp() - first_epoch) // bucket_s)
        if 0 <= index < bucket_count:
            counts[index] += 1
    return [(datetime.fromtimestamp(first_epoch + i * bucket_s, UTC), n) for i, n in enumerate(counts)]


def activity_durations(history: list[Event]) -> list[float]:
    """Milliseconds from each TaskScheduled to its TaskCompleted/TaskFailed in one history."""
    scheduled: dict[object, datetime] = {}
    durations: list[float] = []
    for event in history:
        event_type = event.get("EventType")
        if event_type == EventType.TASK_SCHEDULED:
            scheduled[event.get("EventId")] = parse_ts(str(event["Timestamp"]))
        elif event_type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
            start = scheduled.pop(event.get("TaskScheduledId"), None)
            if start is not None:
                end = parse_ts(str(event["Timestamp"]))
                durations.append(max(0.0, (end - start).total_seconds() * 1000))
    return durations


def _grouped_counts(conn: sqlite3.Connection, column: str) -> dict[str, int]:
    # column is one of two literals chosen below, never user input.
    sql = f"SELECT {column}, COUNT(*) FROM instances GROUP BY {column}"
    return {str(value): int(count) for value, count in conn.execute(sql)}


def _completion_times(conn: sqlite3.Connection, since_us: int) -> list[datetime]:
    rows = conn.execute(
        "SELECT completed_us FROM instances WHERE status = ? AND completed_us >= ?",
        (RuntimeStatus.COMPLETED.value, since_us),
    )
    return [from_us(completed_us) for (completed_us,) in rows]


def _recent_activity_durations(conn: sqlite3.Connection) -> list[float]:
    ended = (RuntimeStatus.COMPLETED.value, RuntimeStatus.FAILED.value)
    rows = conn.execute(
        "SELECT instance_id FROM instances WHERE status IN (?, ?) ORDER BY created_us DESC LIMIT ?",
        (*ended, DURATION_SAMPLE_INSTANCES),
    ).fetchall()
    durations: list[float] = []
    for (instance_id,) in rows:
        durations.extend(activity_durations(q.load_history(conn, instance_id)))
    return durations


class _Answers(Generic[T]):
    """Cached answers of one aggregate, by key (each aggregate has its own, so its answers keep their type)."""

    def __init__(self) -> None:
        #: key -> (time.monotonic() when computed, answer)
        self._answers: dict[str, tuple[float, T]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, max_age_s: float, compute: Callable[[], Awaitable[T]]) -> T:
        """The answer for key if it is younger than max_age_s, else a new one from compute."""
        # One computation per key at a time: concurrent pollers wait for it instead of repeating it.
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._answers.get(key)
            if hit is not None and time.monotonic() - hit[0] < max_age_s:
                return hit[1]
            value = await compute()
            self._answers[key] = (time.monotonic(), value)
            return value


class TaskHubStatistics:
    """Exact counts and recent rates from SQL aggregates; implements the dashboard's HubStatistics."""

    def __init__(self, store: SqliteStore, *, cache_s: float = 2.0) -> None:
        self._store = store
        #: Seconds an answer is reused; 0 recomputes every time (benchmarks measure the worst case).
        self.cache_s = cache_s
        self._counts: _Answers[dict[str, int]] = _Answers()
        self._completions: _Answers[list[tuple[datetime, int]]] = _Answers()
        self._percentiles: _Answers[dict[str, float]] = _Answers()

    async def status_counts(self) -> dict[str, int]:
        """Number of instances per runtime status name."""
        return await self._counts.get(
            "status", self.cache_s, lambda: self._store.read(lambda c: _grouped_counts(c, "status"))
        )

    async def name_counts(self) -> dict[str, int]:
        """Number of instances per orchestrator name."""
        return await self._counts.get(
            "name", self.cache_s, lambda: self._store.read(lambda c: _grouped_counts(c, "name"))
        )

    async def completions_per_second(self, window_s: int, bucket_s: int) -> list[tuple[datetime, int]]:
        """Completed instances per bucket over the last window_s seconds, oldest bucket first."""
        now = datetime.now(UTC)
        since_us = to_us(now) - (window_s + bucket_s) * 1_000_000

        async def compute() -> list[tuple[datetime, int]]:
            times = await self._store.read(lambda c: _completion_times(c, since_us))
            return bucket_counts(times, now, window_s, bucket_s)

        return await self._completions.get(f"completions:{window_s}:{bucket_s}", self.cache_s, compute)

    async def activity_duration_percentiles(self) -> dict[str, float]:
        """Activity run-time percentiles over the most recently created ended instances."""

        async def compute() -> dict[str, float]:
            return percentiles(await self._store.read(_recent_activity_durations))

        return await self._percentiles.get("activities", self.cache_s, compute)
