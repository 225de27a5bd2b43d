"""A real DurableEngine on a temporary data dir, driving the durable_features test app in worker processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions, InstanceRecord, RuntimeStatus
from tests.support.engines import start_test_functions, stop_test_functions

#: The test app the harness runs (tests/apps/durable_features).
APP = "durable_features"


@dataclass
class Harness:
    """The engine under test plus helpers to reopen it on the same data dir."""

    engine: DurableEngine
    functions: DurableFunctions
    data_dir: Path
    options: EngineOptions

    async def run(
        self, name: str, input_json: str | None = None, instance_id: str | None = None, timeout: float = 20.0
    ) -> InstanceRecord:
        """Start an orchestration and wait until it ends."""
        iid = await self.engine.start_orchestration(name, instance_id, input_json)
        return await self.ended(iid, timeout)

    async def ended(self, instance_id: str, timeout: float = 20.0) -> InstanceRecord:
        record = await self.engine.wait_for_instance(instance_id, timeout)
        assert record is not None, f"instance {instance_id} vanished"
        assert record.runtime_status.is_terminal, f"instance {instance_id} still {record.runtime_status}"
        return record

    async def reached(self, instance_id: str, *statuses: RuntimeStatus, timeout: float = 20.0) -> InstanceRecord:
        record = await self.engine.wait_for_instance(instance_id, timeout, frozenset(statuses))
        assert record is not None and record.runtime_status in statuses, record
        return record

    async def reopen(self) -> DurableEngine:
        """Stop the engine and open a new one on the same data dir (a host restart)."""
        await self.engine.stop()
        self.engine = DurableEngine.open(self.data_dir, self.functions, self.options)
        await self.engine.start()
        return self.engine


def client_body(value: Any) -> str:
    """An orchestration input as the SDK client sends it: the JSON text of the value's JSON text."""
    return json.dumps(json.dumps(value))


def make_harness_options(**overrides: Any) -> EngineOptions:
    values: dict[str, Any] = {
        "task_hub": "TestHub",
        "max_concurrent_activities": 10,
        "max_concurrent_orchestrations": 10,
    }
    values.update(overrides)
    return EngineOptions(**values)


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    functions = await start_test_functions(APP)
    options = make_harness_options()
    engine = DurableEngine.open(tmp_path / "hub", functions, options)
    await engine.start()
    h = Harness(engine, functions, tmp_path / "hub", options)
    try:
        yield h
    finally:
        await h.engine.stop()
        await stop_test_functions(functions)
