"""--azurite auto: the host starts the repository's Azurite for UseDevelopmentStorage=true and stops it on exit."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from devhost.azurite import is_listening
from devhost.bindings.storage import DEV_PORTS
from tests.support.devhost import start_devhost
from tests.support.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "apps" / "http_app"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


async def test_auto_starts_and_stops_azurite(tmp_path: Path):
    if any(is_listening(port) for port in DEV_PORTS.values()):
        pytest.skip("ports 10000-10002 are in use here, so --azurite auto would (rightly) reuse that Azurite")
    host = start_devhost(APP, None, data_dir=tmp_path, azurite_mode="auto")
    try:
        assert "Started Azurite" in host.output()
        assert all(is_listening(port) for port in DEV_PORTS.values())
        assert (tmp_path / "azurite").is_dir()
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{host.base_url}/api/blobs/auto", data=b"via auto azurite") as response:
                assert response.status == 200
            async with session.get(f"{host.base_url}/api/blobs/auto") as response:
                assert await response.text() == "httpapp/auto.txt:via auto azurite"
    finally:
        assert host.terminate() == 0
    wait_until(lambda: not any(is_listening(port) for port in DEV_PORTS.values()), 15, "Azurite to stop with the host")
