"""A real DurableEngine on a temporary data dir, driving the durable_features test app."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest_asyncio

from devhost.durable.adapters import build_durable_functions
from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions, InstanceRecord, RuntimeStatus

APP_FILE = Path(__file__).resolve().parents[2] / "apps" / "durable_features" / "function_app.py"


def load_app() -> ModuleType:
    """A fresh import of the test app (its module state, e.g. attempt counters, is per test)."""
    spec = importlib.util.spec_from_file_location(f"durable_features_{uuid.uuid4().hex}", APP_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


async def eventually(probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, what: str = "") -> Any:
    """Await probe until it returns something truthy; waits on nothing but the probe itself."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


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
