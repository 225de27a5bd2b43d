"""A real DurableEngine over one of the tests/apps/ test apps (run by real worker processes)."""

from __future__ import annotations

import os
from pathlib import Path

from devhost.app.index import build_index
from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions, InstanceRecord, RuntimeStatus
from devhost.workers.durable_runner import WorkerDurableRunner, durable_functions
from devhost.workers.pool import PoolSettings, WorkerPool
from devhost.workers.process import WorkerSpec
from tests.support.apps import APPS_DIR


async def start_test_functions(app_name: str, settings: PoolSettings | None = None) -> DurableFunctions:
    """Worker processes for tests/apps/<app_name> and its durable functions; stop_test_functions() them."""
    pool = WorkerPool(WorkerSpec(APPS_DIR / app_name), settings or PoolSettings())
    metadata = await pool.start()
    return durable_functions(build_index(metadata, dict(os.environ)), pool)


async def stop_test_functions(functions: DurableFunctions) -> None:
    """Stop the worker processes behind functions."""
    runner = functions.runner
    assert isinstance(runner, WorkerDurableRunner)
    await runner.pool.stop()


async def start_test_engine(app_name: str, data_dir: Path, options: EngineOptions) -> DurableEngine:
    """Open and start an engine on data_dir running tests/apps/<app_name>; stop it with stop_test_engine()."""
    engine = DurableEngine.open(data_dir, await start_test_functions(app_name), options)
    await engine.start()
    return engine


async def stop_test_engine(engine: DurableEngine) -> None:
    """Stop the engine, then its worker processes."""
    await engine.stop()
    await stop_test_functions(engine.functions)


async def wait_for_status(
    engine: DurableEngine, instance_id: str, *statuses: RuntimeStatus, timeout: float = 15.0
) -> InstanceRecord:
    """Wait (event-driven, no sleeps) until the instance is in one of statuses (default: any ended one)."""
    wanted = frozenset(statuses) if statuses else None
    record = await engine.wait_for_instance(instance_id, timeout, wanted)
    assert record is not None, f"instance {instance_id} not found"
    ok = record.runtime_status in wanted if wanted else record.runtime_status.is_terminal
    assert ok, f"instance {instance_id} is {record.runtime_status}, expected {statuses or 'an ended state'}"
    return record
