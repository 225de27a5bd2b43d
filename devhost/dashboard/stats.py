"""The overview page's aggregate queries, as a contract the task hub's statistics implement."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


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
