"""A real DurableEngine over one of the tests/apps/ test apps, and waiting on its instances."""

from __future__ import annotations

from pathlib import Path

from devhost.durable.adapters import build_durable_functions
from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions, InstanceRecord, RuntimeStatus
from tests.support.apps import import_test_app


async def start_test_engine(app_name: str, data_dir: Path, options: EngineOptions) -> DurableEngine:
    """Open and start an engine on data_dir running tests/apps/<app_name>; the caller stops it."""
    functions = build_durable_functions(import_test_app(app_name).app.get_functions())
    engine = DurableEngine.open(data_dir, functions, options)
    await engine.start()
    return engine


async def wait_for_status(
    engine: DurableEngine, instance_id: str, *statuses: RuntimeStatus, timeout_s: float = 15.0
) -> InstanceRecord:
    """Wait (event-driven, no sleeps) until the instance is in one of statuses (default: any ended one)."""
    wanted = frozenset(statuses) if statuses else None
    record = await engine.wait_for_instance(instance_id, timeout_s, wanted)
    assert record is not None, f"instance {instance_id} not found"
    ok = record.runtime_status in wanted if wanted else record.runtime_status.is_terminal
    assert ok, f"instance {instance_id} is {record.runtime_status}, expected {statuses or 'an ended state'}"
    return record
