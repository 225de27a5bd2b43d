"""A real durable engine serving the management API under both mount points on a free loopback port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from devhost.durable.client_binding import build_client_binding
from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions, InstanceRecord, RuntimeStatus
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from devhost.management.routes import create_management_app
from tests.support.engines import start_test_engine, stop_test_engine, wait_for_status
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async

TASK_HUB = "MgmtTestHub"

T = TypeVar("T")


@dataclass
class Stack:
    """Engine + HTTP server + an HTTP client session for one test module."""

    engine: DurableEngine
    port: int
    session: aiohttp.ClientSession

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public(self) -> str:
        return self.origin + MANAGEMENT_PREFIX

    @property
    def rpc(self) -> str:
        return self.origin + RPC_PREFIX

    def binding(self) -> str:
        return build_client_binding(self.public, self.rpc + "/", TASK_HUB)

    async def wait_until(self, instance_id: str, *statuses: RuntimeStatus, timeout: float = 15.0) -> InstanceRecord:
        """Wait (engine-side, no sleeps) until the instance is in one of statuses (default: ended)."""
        return await wait_for_status(self.engine, instance_id, *statuses, timeout=timeout)

    async def wait_custom_status(self, instance_id: str, value: str) -> None:
        """Wait until the orchestrator set its custom status (it then waits for its event)."""

        async def probe() -> bool:
            record = await self.engine.get_instance(instance_id)
            return record is not None and record.custom_status is not None and json.loads(record.custom_status) == value

        await wait_until_async(probe, message=f"{instance_id} custom status {value}")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    engine = await start_test_engine(
        "management_app", tmp_path_factory.mktemp("taskhub"), EngineOptions(task_hub=TASK_HUB)
    )
    root = web.Application()
    root.add_subapp(MANAGEMENT_PREFIX, create_management_app(engine, task_hub=TASK_HUB))
    root.add_subapp(RPC_PREFIX, create_management_app(engine, task_hub=TASK_HUB))
    runner = web.AppRunner(root)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    session = aiohttp.ClientSession()
    try:
        yield Stack(engine=engine, port=port, session=session)
    finally:
        await session.close()
        # The SDK keeps one module-global aiohttp session; it belongs to this module's event loop.
        from azure.durable_functions.models.utils import http_utils

        await http_utils._close_session()
        await runner.cleanup()
        await stop_test_engine(engine)
