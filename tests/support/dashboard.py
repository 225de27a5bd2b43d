"""A real durable engine (on a temporary task hub) with the dashboard served on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from devhost.dashboard.app import DashboardSettings, create_dashboard_app
from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions, InstanceRecord, RuntimeStatus
from tests.support.engines import start_test_engine, stop_test_engine, wait_for_status
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async

TASK_HUB = "DashTestHub"


@dataclass
class DashboardStack:
    """The engine, the dashboard's base URL and an HTTP session to call it."""

    engine: DurableEngine
    base_url: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        """GET a dashboard path; returns (status, parsed JSON)."""
        async with self.session.get(self.base_url + path, params=params) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        """POST a JSON body (as the UI does); returns (status, parsed JSON)."""
        async with self.session.post(self.base_url + path, json=body if body is not None else {}, **kwargs) as response:
            return response.status, await response.json()

    async def wait_until(self, instance_id: str, *statuses: RuntimeStatus, timeout: float = 15.0) -> InstanceRecord:
        """Wait engine-side until the instance is in one of statuses (default: any ended one)."""
        return await wait_for_status(self.engine, instance_id, *statuses, timeout=timeout)

    async def wait_custom_status(self, instance_id: str) -> None:
        """Wait until the orchestrator has run its first episode (it sets a custom status, then waits)."""

        async def probe() -> bool:
            record = await self.engine.get_instance(instance_id)
            return record is not None and record.custom_status is not None

        await wait_until_async(probe, message=f"{instance_id} to set its custom status")


async def open_engine(data_dir: Path, task_hub: str = TASK_HUB) -> DurableEngine:
    """Open and start a DurableEngine over the dashboard test app."""
    return await start_test_engine("dashboard_app", data_dir, EngineOptions(task_hub=task_hub))


@asynccontextmanager
async def running_dashboard(
    data_dir: Path, settings: DashboardSettings | None = None, task_hub: str = TASK_HUB
) -> AsyncIterator[DashboardStack]:
    """Engine + dashboard on a free port for the duration of the block; everything is stopped afterwards."""
    engine = await open_engine(data_dir, task_hub)
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None
    try:
        app = create_dashboard_app(
            engine, settings=settings or DashboardSettings(task_hub=task_hub), stats=engine.statistics
        )
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        session = aiohttp.ClientSession()
        yield DashboardStack(engine=engine, base_url=f"http://127.0.0.1:{port}", session=session)
    finally:
        if session is not None:
            await session.close()
        if runner is not None:
            await runner.cleanup()
        await stop_test_engine(engine)
