"""SIGTERM while activities run: in-flight work finishes within the grace period or is redone after the
restart; the orchestration completes with every result exactly once."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import start_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow, pytest.mark.timeout(120)]
APP = REPO_ROOT / "tests" / "apps" / "slow_activity_app"
FAN_OUT = 6


def _post(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=20) as response:
        return json.loads(response.read())


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.loads(response.read())


def _records(directory: Path, kind: str) -> Counter[str]:
    """How often each activity item recorded `kind` (started / finished)."""
    return Counter(p.name.split(".")[1] for p in directory.iterdir() if p.name.startswith(kind + "."))


@pytest.mark.parametrize(
    ("seconds", "redone"),
    [(1.5, False), (7.0, True)],
    ids=["finishes-within-grace", "redone-after-restart"],
)
def test_sigterm_while_activities_run_loses_nothing(
    azurite: Azurite, tmp_path: Path, seconds: float, redone: bool
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    env = {"SLOW_APP_RECORD_DIR": str(records), "SLOW_APP_SECONDS": str(seconds)}
    data_dir = tmp_path / "data"
    host = start_devhost(APP, azurite, data_dir=data_dir, extra_env=env)
    try:
        started = _post(f"{host.base_url}/api/start/{FAN_OUT}")
        instance_id = started["id"]
        wait_until(lambda: sum(_records(records, "started").values()) >= FAN_OUT, 30, "all activities running")
        assert host.terminate(timeout=40) == 0, host.output()[-3000:]
        first_output = host.output()
        assert "Host stopped" in first_output
    finally:
        if host.process.poll() is None:
            host.kill()
    finished_before_restart = _records(records, "finished")

    again = start_devhost(APP, azurite, data_dir=data_dir, extra_env=env)
    try:
        url = f"{again.base_url}/runtime/webhooks/durabletask/instances/{instance_id}"

        def finished() -> dict | None:
            status = _get(url)
            return status if status["runtimeStatus"] in ("Completed", "Failed") else None

        status = wait_until(finished, 60, "completion", 0.2)
        assert status is not None
        items = [f"{instance_id}:{i}" for i in range(FAN_OUT)]
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == items  # every result exactly once, in order
        starts = _records(records, "started")
        keys = {item.replace(":", "_") for item in items}
        assert set(starts) == keys and all(starts[k] >= 1 for k in keys)
        re_executions = sum(starts.values()) - FAN_OUT
        if redone:
            # The grace period (5 s) ran out: the in-flight activities ran again after the restart.
            assert re_executions == FAN_OUT
        else:
            # They finished during shutdown and their results were kept: nothing ran twice.
            assert set(finished_before_restart) == keys
            assert re_executions == 0
    finally:
        again.terminate()
