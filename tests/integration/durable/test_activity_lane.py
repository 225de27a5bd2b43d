"""The activity fast lane: quick CPU-bound sync activities run on one thread, everything else in the pool."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from devhost.durable.activity_lane import MAX_WALL_S, is_fast
from devhost.durable.models import ActivityFunction, RuntimeStatus
from tests.integration.durable.conftest import Harness
from tests.integration.durable.test_restart import assert_each_result_applied_once
from tests.support.waiting import wait_until_async

LANE = "durable-activity-lane"


async def _never(_: str) -> str:
    raise AssertionError("not called")


def test_only_measured_quick_cpu_bound_sync_functions_qualify() -> None:
    def sync(_: str) -> str:
        return "null"

    assert not is_fast(ActivityFunction(run=_never, run_in_thread=sync))  # not measured yet
    assert is_fast(ActivityFunction(run=_never, run_in_thread=sync, last_wall_s=0.0002, last_cpu_s=0.00015))
    assert not is_fast(ActivityFunction(run=_never, run_in_thread=sync, last_wall_s=MAX_WALL_S, last_cpu_s=MAX_WALL_S))
    # Short but mostly waiting (I/O): stays in the pool.
    assert not is_fast(ActivityFunction(run=_never, run_in_thread=sync, last_wall_s=0.001, last_cpu_s=0.0001))
    # async def functions have no thread entry point.
    assert not is_fast(ActivityFunction(run=_never, last_wall_s=0.0001, last_cpu_s=0.0001))


async def test_quick_sync_activities_move_to_the_lane_with_results_intact(harness: Harness) -> None:
    record = await harness.run("activity_fan", json.dumps(["where", 300]))
    assert record.runtime_status is RuntimeStatus.COMPLETED, record
    results = json.loads(record.output or "")
    assert [r["value"] for r in results] == list(range(300))
    threads = Counter(r["thread"] for r in results)
    # The first call runs in the pool and is measured; once it proved quick, calls go to the lane.
    assert threads[LANE] > 0, threads
    assert_each_result_applied_once(await harness.engine.get_history(record.instance_id), 300)


async def test_blocking_sync_activities_keep_running_side_by_side_in_the_pool(harness: Harness) -> None:
    record = await harness.run("activity_fan", json.dumps(["sleepy", 10]))
    results = json.loads(record.output or "")
    assert [r["value"] for r in results] == list(range(10))
    assert LANE not in {r["thread"] for r in results}
    # Ten 50 ms calls overlapped: at some moment at least two were running.
    edges = sorted([(r["start"], 1) for r in results] + [(r["end"], -1) for r in results])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak >= 2, f"the blocking calls ran one at a time: {results}"


async def test_a_restart_with_lane_work_queued_loses_nothing_and_applies_each_result_once(harness: Harness) -> None:
    total = 3_000
    await harness.run("activity_fan", json.dumps(["busy", 5]))  # `busy` is measured quick from here on
    iid = await harness.engine.start_orchestration("activity_fan", "lane-restart", json.dumps(["busy", total]))
    store = sqlite3.connect(f"file:{harness.data_dir / 'taskhub.sqlite'}?mode=ro", uri=True)

    def remaining() -> int:
        return int(store.execute("SELECT COUNT(*) FROM work_items WHERE instance_id = ?", (iid,)).fetchone()[0])

    async def under_way() -> bool:  # scheduled (work items stored) and at least 100 of them done
        return 0 < remaining() <= total - 100

    await wait_until_async(under_way, interval=0.002, message="lane work under way")
    left = remaining()
    store.close()
    assert left >= 500, f"only {left} activities were left when the restart began"
    engine = await harness.reopen()  # lane items not yet run are dropped; their work items run again
    record = await engine.wait_for_instance(iid, 60)
    assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED, record
    assert json.loads(record.output or "") == list(range(total))
    assert_each_result_applied_once(await engine.get_history(iid), total)
