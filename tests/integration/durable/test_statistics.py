"""The task hub's aggregates (the dashboard overview's numbers) are exact, straight from the store."""

from __future__ import annotations

from devhost.durable.models import RuntimeStatus
from tests.integration.durable.conftest import Harness, client_body


async def test_counts_completions_and_activity_durations(harness: Harness) -> None:
    stats = harness.engine.statistics
    stats.cache_s = 0.0
    assert await stats.status_counts() == {}
    assert (await stats.activity_duration_percentiles())["count"] == 0.0

    for _ in range(4):
        assert (await harness.run("chain")).runtime_status is RuntimeStatus.COMPLETED
    for _ in range(2):
        assert (await harness.run("fan_out", client_body(5))).runtime_status is RuntimeStatus.COMPLETED
    assert (await harness.run("failing_orch")).runtime_status is RuntimeStatus.FAILED

    assert await stats.status_counts() == {"Completed": 6, "Failed": 1}
    assert await stats.name_counts() == {"chain": 4, "fan_out": 2, "failing_orch": 1}

    buckets = await stats.completions_per_second(window_s=60, bucket_s=10)
    assert len(buckets) == 6
    assert [start for start, _ in buckets] == sorted(start for start, _ in buckets)
    assert sum(count for _, count in buckets) == 6  # Completed only; the failed run is not a completion

    durations = await stats.activity_duration_percentiles()
    # 4 chains x 3 activities + 2 fan-outs x 5 + 1 failed activity.
    assert durations["count"] == 23.0
    assert 0.0 <= durations["p50"] <= durations["p95"] <= durations["max"]


async def test_answers_are_cached_for_a_short_while(harness: Harness) -> None:
    stats = harness.engine.statistics
    stats.cache_s = 60.0
    assert await stats.status_counts() == {}
    await harness.run("chain")
    assert await stats.status_counts() == {}  # the cached answer
    stats.cache_s = 0.0
    assert await stats.status_counts() == {"Completed": 1}
