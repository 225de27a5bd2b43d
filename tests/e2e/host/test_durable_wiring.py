"""Durable wiring once: HTTP starter -> orchestration -> activity, followed to Completed via statusQueryGetUri."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost

APP = Path(__file__).resolve().parents[2] / "apps" / "durable_app"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


async def test_http_starter_orchestration_activity_completes(azurite: Azurite, tmp_path: Path):
    with running_devhost(APP, azurite, data_dir=tmp_path) as host:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{host.base_url}/api/orchestrators/hello_orchestrator?city=Oslo") as response:
                assert response.status == 202
                payload = await response.json()
                assert response.headers["Location"] == payload["statusQueryGetUri"]
            status_url = payload["statusQueryGetUri"]
            # The SDK rewrites the origin to the one the request used.
            assert status_url.startswith(f"{host.base_url}/runtime/webhooks/durabletask/instances/{payload['id']}")
            deadline = time.monotonic() + 30
            while True:
                async with session.get(status_url) as response:
                    status = await response.json()
                if status["runtimeStatus"] == "Completed" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == ["Hello Oslo", "Hello Tokyo"]
        output = host.output()
        assert "hello_orchestrator: orchestrationTrigger" in output and "hello: activityTrigger" in output
        assert "Durable management API" in output
