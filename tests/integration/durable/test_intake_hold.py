"""Behind a queue backlog the engine holds activities, bounded, and a held activity survives a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from devhost.durable import history as h
from devhost.durable.adapters import build_durable_functions
from devhost.durable.engine import DurableEngine
from devhost.durable.intake import IntakeBacklog
from devhost.durable.models import RuntimeStatus
from tests.integration.durable.conftest import load_app, make_harness_options


class Clock:
    """The backlog's clock, frozen until the test moves it: while it stands still, the hold cannot end."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _open(data_dir: Path, intake: IntakeBacklog) -> DurableEngine:
    functions = build_durable_functions(load_app().app.get_functions())
    engine = DurableEngine.open(data_dir, functions, make_harness_options(), intake)
    await engine.start()
    return engine


async def _completed_activities(engine: DurableEngine, instance_id: str) -> int:
    return sum(1 for event in await engine.get_history(instance_id) if event["EventType"] == h.TASK_COMPLETED)


async def _start_behind_backlog(engine: DurableEngine, intake: IntakeBacklog, instance_id: str, look_s: float) -> None:
    """Report a backlog, start a chain and check, look_s later, that it is Running with no activity run."""
    intake.fetched("start-requests", 32, 32)
    await engine.start_orchestration("chain", instance_id, None)
    record = await engine.wait_for_instance(instance_id, 10.0, frozenset({RuntimeStatus.RUNNING}))
    assert record is not None and record.runtime_status is RuntimeStatus.RUNNING
    await asyncio.sleep(look_s)  # several of the worker's re-checks: the frozen clock keeps the activity back
    assert await _completed_activities(engine, instance_id) == 0
    record = await engine.get_instance(instance_id)
    assert record is not None and record.runtime_status is RuntimeStatus.RUNNING


async def test_activities_wait_while_the_backlog_lasts_then_run(tmp_path: Path) -> None:
    clock = Clock()
    intake = IntakeBacklog(hold_s=0.2, max_wait_s=60.0, clock=clock)
    engine = await _open(tmp_path / "hub", intake)
    try:
        iid = "held-1"
        await _start_behind_backlog(engine, intake, iid, 1.0)
        clock.now += 0.2  # the backlog is worked off: no fetch showed one for hold_s
        record = await engine.wait_for_instance(iid, 15.0)
        assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED
        assert json.loads(record.output or "null") == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    finally:
        await engine.stop()


async def test_a_flood_that_never_ends_delays_activities_by_max_wait_only(tmp_path: Path) -> None:
    clock = Clock()
    intake = IntakeBacklog(hold_s=3600.0, max_wait_s=0.5, clock=clock)
    engine = await _open(tmp_path / "hub", intake)

    async def run_clock() -> None:
        while True:
            await asyncio.sleep(0.05)
            clock.now += 0.1

    try:
        iid = "flooded-1"
        # Held for an hour of the test's clock; while it stands still, max_wait never passes either.
        await _start_behind_backlog(engine, intake, iid, 1.0)
        # The clock runs, the hold does not end within the test, so only max_wait lets each activity start.
        ticking = asyncio.create_task(run_clock())
        try:
            record = await engine.wait_for_instance(iid, 20.0)
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
        assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED
        assert clock.now < 1000.0 + 3600.0
    finally:
        await engine.stop()


async def test_an_activity_held_at_stop_runs_after_the_restart(tmp_path: Path) -> None:
    clock = Clock()
    held = IntakeBacklog(hold_s=3600.0, max_wait_s=3600.0, clock=clock)
    engine = await _open(tmp_path / "hub", held)
    iid = "held-at-stop"
    try:
        await _start_behind_backlog(engine, held, iid, 0.3)
    finally:
        await engine.stop()  # the waiting worker is cancelled; its work item stays in the store

    engine = await _open(tmp_path / "hub", IntakeBacklog())
    try:
        record = await engine.wait_for_instance(iid, 15.0)
        assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED
        assert await _completed_activities(engine, iid) == 3
    finally:
        await engine.stop()
