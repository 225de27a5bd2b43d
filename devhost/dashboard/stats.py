"""Aggregates for the overview page: the HubStatistics contract and a bounded fallback over DurableService.

The engine's store can implement HubStatistics with real aggregate queries; until then
SampledHubStatistics computes the same numbers from the most recent instances (bounded work per call).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, runtime_checkable

from devhost.dashboard.payloads import to_datetime
from devhost.durable.models import InstanceQuery, InstanceRecord, RuntimeStatus
from devhost.durable.service import DurableService

#: Keys of activity_duration_percentiles(): sample size and percentiles in milliseconds.
PERCENTILE_KEYS = ("count", "p50", "p90", "p95", "p99", "max")


@runtime_checkable
class HubStatistics(Protocol):
    """Aggregate queries over a task hub, for the overview page."""

    async def status_counts(self) -> dict[str, int]:
        """Number of instances per runtime status name (RuntimeStatus.value); absent statuses may be omitted."""
        ...

    async def name_counts(self) -> dict[str, int]:
        """Number of instances per orchestrator name."""
        ...

    async def completions_per_second(self, window_s: int, bucket_s: int) -> list[tuple[datetime, int]]:
        """Instances that reached Completed in each bucket of the last window_s seconds, oldest bucket first.

        Returns (bucket start as aware UTC datetime, count) for every bucket, empty ones included;
        divide a count by bucket_s for the rate.
        """
        ...

    async def activity_duration_percentiles(self) -> dict[str, float]:
        """Activity run times (TaskScheduled to TaskCompleted/TaskFailed) of recent work, in milliseconds.

        Keys: count, p50, p90, p95, p99, max (all 0.0 when there is no data).
        """
        ...


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


T = TypeVar("T")


class SampledHubStatistics:
    """HubStatistics computed through DurableService from at most `max_instances` recent instances.

    Counts are exact while the hub holds fewer instances than the bound (see `truncated`). Results are
    cached for `cache_s` seconds so several dashboards polling at once cost one computation.
    """

    def __init__(
        self,
        service: DurableService,
        *,
        max_instances: int = 2000,
        max_histories: int = 50,
        cache_s: float = 2.0,
    ) -> None:
        self._service = service
        self.max_instances = max_instances
        self._max_histories = max_histories
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, object]] = {}
        # One lock per cache key: concurrent callers wait for one computation; keys may nest.
        self._locks: dict[str, asyncio.Lock] = {}
        #: True when the last sample hit max_instances (counts then cover only the newest instances).
        self.truncated = False

    async def _cached(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < self._cache_s:
                return hit[1]  # type: ignore[return-value]
            value = await compute()
            self._cache[key] = (time.monotonic(), value)
            return value

    async def _collect(self, query: InstanceQuery, limit: int) -> list[InstanceRecord]:
        records: list[InstanceRecord] = []
        token: str | None = None
        while len(records) < limit:
            page = await self._service.query_instances(
                InstanceQuery(
                    created_from=query.created_from,
                    statuses=query.statuses,
                    updated_from=query.updated_from,
                    newest_first=True,
                    page_size=min(500, limit - len(records)),
                    continuation_token=token,
                )
            )
            records.extend(page.instances)
            token = page.continuation_token
            if token is None:
                break
        return records[:limit]

    async def _recent(self) -> list[InstanceRecord]:
        async def compute() -> list[InstanceRecord]:
            records = await self._collect(InstanceQuery(), self.max_instances + 1)
            self.truncated = len(records) > self.max_instances
            return records[: self.max_instances]

        return await self._cached("recent", compute)

    async def status_counts(self) -> dict[str, int]:
        """Per-status counts over the recent sample."""
        return dict(Counter(record.runtime_status.value for record in await self._recent()))

    async def name_counts(self) -> dict[str, int]:
        """Per-name counts over the recent sample."""
        return dict(Counter(record.name for record in await self._recent()))

    async def completions_per_second(self, window_s: int, bucket_s: int) -> list[tuple[datetime, int]]:
        """Completed instances per bucket, from instances updated within the window (bounded)."""
        now = datetime.now(UTC)

        async def compute() -> list[tuple[datetime, int]]:
            since = now - timedelta(seconds=window_s + bucket_s)
            query = InstanceQuery(updated_from=since, statuses=frozenset({RuntimeStatus.COMPLETED}))
            records = await self._collect(query, self.max_instances)
            times = [record.completed_time or record.last_updated_time for record in records]
            aware = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in times]
            return bucket_counts(aware, now, window_s, bucket_s)

        return await self._cached(f"completions:{window_s}:{bucket_s}", compute)

    async def activity_duration_percentiles(self) -> dict[str, float]:
        """Percentiles over the activities of the most recent ended instances' histories."""

        async def compute() -> dict[str, float]:
            ended = [record for record in await self._recent() if record.runtime_status.is_terminal]
            durations: list[float] = []
            for record in ended[: self._max_histories]:
                durations.extend(activity_durations(await self._service.get_history(record.instance_id)))
            return percentiles(durations)

        return await self._cached("activities", compute)


def activity_durations(history: list[dict[str, object]]) -> list[float]:
    """Milliseconds from each TaskScheduled to its TaskCompleted/TaskFailed in one history."""
    scheduled: dict[object, datetime] = {}
    durations: list[float] = []
    for event in history:
        event_type = event.get("EventType")
        if event_type == 4:
            stamp = to_datetime(event.get("Timestamp"))
            if stamp is not None:
                scheduled[event.get("EventId")] = stamp
        elif event_type in (5, 6):
            start = scheduled.pop(event.get("TaskScheduledId"), None)
            end = to_datetime(event.get("Timestamp"))
            if start is not None and end is not None:
                durations.append(max(0.0, (end - start).total_seconds() * 1000))
    return durations
