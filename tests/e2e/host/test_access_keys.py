"""Access keys: enforced only when the host binds beyond loopback (here 0.0.0.0, called via 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import aiohttp
import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


async def _status(url: str, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as response:
        if response.status == 401:
            assert "key" in (await response.json())["message"]
        return response.status


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_keys_enforced_on_non_loopback_bind(azurite: Azurite, tmp_path: Path):
    with running_devhost(APPS / "http_app", azurite, data_dir=tmp_path, host="0.0.0.0") as host:
        keys_file = tmp_path / "keys.json"
        keys = json.loads(keys_file.read_text())
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        assert keys["admin"] in host.output() and keys["function"] in host.output()
        base = host.base_url
        # anonymous functions stay open
        assert await _status(f"{base}/api/items/1") == 200
        # function level: function or admin key, as ?code= or x-functions-key
        assert await _status(f"{base}/api/secure") == 401
        assert await _status(f"{base}/api/secure?code=wrong") == 401
        assert await _status(f"{base}/api/secure?code={keys['function']}") == 200
        assert await _status(f"{base}/api/secure", {"x-functions-key": keys["admin"]}) == 200
        # admin endpoints: admin key only
        assert await _status(f"{base}/admin/functions") == 401
        assert await _status(f"{base}/admin/functions?code={keys['function']}") == 401
        assert await _status(f"{base}/admin/functions?code={keys['admin']}") == 200
        # the dashboard port follows the same rule with the admin key
        assert await _status(f"{host.dashboard_url}/") == 401
        assert await _status(f"{host.dashboard_url}/?code={keys['admin']}") == 200
        # the SDK's RPC endpoint only serves this machine's loopback peers
        address = _non_loopback_address()
        if address is not None:
            assert await _status(f"http://{address}:{host.port}/_rpc/durabletask/instances/") == 403
            assert await _status(f"http://{address}:{host.port}/api/items/1") == 200

    # A second start reuses the saved keys and does not print them again.
    with running_devhost(APPS / "http_app", azurite, data_dir=tmp_path, host="0.0.0.0") as again:
        assert keys["admin"] not in again.output()
        assert "keys.json" in again.output()
        assert await _status(f"{again.base_url}/api/secure?code={keys['function']}") == 200
