"""--azurite auto: the host starts the repository's Azurite for UseDevelopmentStorage=true and stops it on exit."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from tests.support.devhost import start_devhost
from tests.support.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "apps" / "http_app"
DEV_PORTS = (10000, 10001, 10002)

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


async def test_auto_starts_and_stops_azurite(tmp_path: Path):
    if any(_listening(port) for port in DEV_PORTS):
        pytest.skip("ports 10000-10002 are in use here, so --azurite auto would (rightly) reuse that Azurite")
    host = start_devhost(APP, None, data_dir=tmp_path, azurite_mode="auto")
    try:
        assert "Started Azurite" in host.output()
        assert all(_listening(port) for port in DEV_PORTS)
        assert (tmp_path / "azurite").is_dir()
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{host.base_url}/api/blobs/auto", data=b"via auto azurite") as response:
                assert response.status == 200
            async with session.get(f"{host.base_url}/api/blobs/auto") as response:
                assert await response.text() == "httpapp/auto.txt:via auto azurite"
    finally:
        assert host.terminate() == 0
    wait_until(lambda: not any(_listening(port) for port in DEV_PORTS), 15, "Azurite to stop with the host")
