"""Virtual time in the host: only with DEVHOST_VIRTUAL_TIME, behind the admin route, persisted with the task hub."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.history import parse_ts
from tests.integration.testing.support import TESTING_APP
from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
VIRTUAL = {"DEVHOST_VIRTUAL_TIME": "1"}


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def test_without_virtual_time_the_clock_route_does_not_exist(azurite: Azurite) -> None:
    with running_devhost(TESTING_APP, azurite, data_dir=None) as host:
        status, _ = call("GET", f"{host.base_url}/admin/devhost/clock")
        assert status == 404
        status, _ = call("POST", f"{host.base_url}/admin/devhost/clock", {"seconds": 60})
        assert status == 404
        assert "Virtual time" not in host.output()


def test_advance_moves_the_task_hub_clock_and_survives_a_restart(azurite: Azurite, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_devhost(TESTING_APP, azurite, data_dir=data_dir, extra_env=VIRTUAL) as host:
        clock_url = f"{host.base_url}/admin/devhost/clock"
        status, body = call("POST", clock_url, {"seconds": 3 * 86400})
        assert status == 200
        assert body["offsetSeconds"] == pytest.approx(3 * 86400, abs=1)
        assert parse_ts(body["now"]) - datetime.now(UTC) > timedelta(days=2, hours=23)
        # Bad input says what is wrong; time never goes back.
        assert call("POST", clock_url, {"seconds": -5}) == (
            400,
            {"error": "time only moves forward: cannot advance by -5 seconds", "status": 400},
        )
        status, error = call("POST", clock_url, {"seconds": "soon"})
        assert status == 400 and "seconds" in error["error"]
        host.wait_for_output("Virtual time advanced by 3 days, 0:00:00")
    with running_devhost(TESTING_APP, azurite, data_dir=data_dir, extra_env=VIRTUAL) as host:
        status, body = call("GET", f"{host.base_url}/admin/devhost/clock")
        assert status == 200
        assert body["offsetSeconds"] == pytest.approx(3 * 86400, abs=1)
