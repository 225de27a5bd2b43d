"""A real DurableEngine on a temporary data dir, driving the durable_features test app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest_asyncio

from devhost.durable.adapters import build_durable_functions
from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions, InstanceRecord, RuntimeStatus
from tests.support.apps import import_test_app


def load_app() -> ModuleType:
    """A fresh import of the durable_features test app."""
    return import_test_app("durable_features")


@dataclass
class Harness:
    """The engine under test plus helpers to reopen it on the same data dir."""

    engine: DurableEngine
    app: ModuleType
    functions: DurableFunctions
    data_dir: Path
    options: EngineOptions

    async def run(
        self, name: str, input_json: str | None = None, instance_id: str | None = None, timeout_s: float = 20.0
    ) -> InstanceRecord:
        """Start an orchestration and wait until it ends."""
        iid = await self.engine.start_orchestration(name, instance_id, input_json)
        return await self.ended(iid, timeout_s)

    async def ended(self, instance_id: str, timeout_s: float = 20.0) -> InstanceRecord:
        record = await self.engine.wait_for_instance(instance_id, timeout_s)
        assert record is not None, f"instance {instance_id} vanished"
        assert record.runtime_status.is_terminal, f"instance {instance_id} still {record.runtime_status}"
        return record

    async def reached(self, instance_id: str, *statuses: RuntimeStatus, timeout_s: float = 20.0) -> InstanceRecord:
        record = await self.engine.wait_for_instance(instance_id, timeout_s, frozenset(statuses))
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
    app = load_app()
    functions = build_durable_functions(app.app.get_functions())
    options = make_harness_options()
    engine = DurableEngine.open(tmp_path / "hub", functions, options)
    await engine.start()
    h = Harness(engine, app, functions, tmp_path / "hub", options)
    try:
        yield h
    finally:
        await h.engine.stop()
