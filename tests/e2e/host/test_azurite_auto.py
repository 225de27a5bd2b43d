"""--azurite auto: the host starts the repository's Azurite for UseDevelopmentStorage=true and stops it on exit."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import pytest

from devhost.azurite import is_listening
from devhost.bindings.storage import DEV_PORTS
from tests.support.devhost import start_devhost
from tests.support.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "apps" / "http_app"

# Both tests start Azurite on the fixed development ports: under pytest-xdist (`make test-fast`, --dist loadgroup)
# they run one after the other on one worker.
pytestmark = [pytest.mark.azurite, pytest.mark.slow, pytest.mark.xdist_group("development-storage-ports")]


async def test_auto_starts_and_stops_azurite(tmp_path: Path):
    if any(is_listening(port) for port in DEV_PORTS.values()):
        pytest.skip("ports 10000-10002 are in use here, so --azurite auto would (rightly) reuse that Azurite")
    host = start_devhost(APP, None, data_dir=tmp_path, azurite_mode="auto")
    try:
        host.wait_for_output("Started Azurite")  # the line may trail the host's first answer
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


def _children(pid: int) -> set[int]:
    """The process's child pids (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's (prctl)")
def test_nothing_outlives_a_killed_host(tmp_path: Path):
    """kill -9 on the host: the Azurite it started and its worker processes end too, the ports come free."""
    if any(is_listening(port) for port in DEV_PORTS.values()):
        pytest.skip("ports 10000-10002 are in use here, so --azurite auto would (rightly) reuse that Azurite")
    host = start_devhost(APP, None, data_dir=tmp_path, azurite_mode="auto")
    children = _children(host.process.pid)
    assert len(children) >= 2, f"expected Azurite and a worker among the host's children, got {children}"
    assert all(is_listening(port) for port in DEV_PORTS.values())
    host.kill()
    wait_until(lambda: not any(_alive(pid) for pid in children), 15, "the host's child processes to exit")
    wait_until(lambda: not any(is_listening(port) for port in DEV_PORTS.values()), 15, "the storage ports to free")
