"""A function that blocks its thread (time.sleep) holds up neither other orchestrations nor HTTP functions.

In Azure the host and the Python worker are separate processes and sync functions run on the worker's
thread pool, so one blocked orchestrator or activity leaves the rest of the app running. The blocking
functions sleep 8 s, longer than the app's 5 s functionTimeout; what happens to them afterwards is the
timeout tests' business, not these tests'.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import fidelity_host, http, p99, start, wait_for_status
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

QUICK_COUNT = 20
QUICK_DEADLINE_S = 30.0
PINGS = 50
PING_SPACING_S = 0.05
PING_P99_LIMIT_S = 0.1


def _ping_latencies(host: DevHost, latencies: list[float], failures: list[str]) -> None:
    """PINGS GET /api/ping, PING_SPACING_S apart; each latency (or failure) is recorded."""
    for _ in range(PINGS):
        began = time.perf_counter()
        try:
            status, text = http("GET", f"{host.base_url}/api/ping", timeout=5)
        except OSError as exc:
            failures.append(repr(exc))
        else:
            if (status, text) != (200, "pong"):
                failures.append(f"{status} {text!r}")
        latencies.append(time.perf_counter() - began)
        time.sleep(PING_SPACING_S)


def _quick_ones_complete_while_pings_answer(host: DevHost) -> None:
    latencies: list[float] = []
    failures: list[str] = []
    pinger = threading.Thread(target=_ping_latencies, args=(host, latencies, failures), daemon=True)
    began = time.monotonic()
    pinger.start()
    instance_ids = [start(host, "quick_orchestrator", f"quick-{i}") for i in range(QUICK_COUNT)]
    for i, instance_id in enumerate(instance_ids):
        remaining = max(0.0, QUICK_DEADLINE_S - (time.monotonic() - began))
        status = wait_for_status(host, instance_id, {"Completed"}, timeout=remaining)
        assert status["output"] == [f"quick-{i}-1", f"quick-{i}-2"]
    assert time.monotonic() - began <= QUICK_DEADLINE_S
    pinger.join(timeout=60)
    assert not pinger.is_alive(), "the pings did not finish within 60 s"
    assert not failures, failures
    assert len(latencies) == PINGS
    assert p99(latencies) < PING_P99_LIMIT_S, sorted(latencies)


@pytest.mark.parametrize(
    ("orchestrator", "marker", "blocking_orchestrator"),
    [
        ("sleepy_orchestrator", "sleepy-orchestrator", True),
        ("sleepy_activity_orchestrator", "sleepy-activity", False),
    ],
)
def test_blocking_function_holds_up_nothing_else(
    azurite: Azurite, tmp_path: Path, orchestrator: str, marker: str, blocking_orchestrator: bool
):
    """A sleeping orchestrator (which is also warned about) or activity: everything else goes on."""
    with fidelity_host(azurite, tmp_path) as (host, markers):
        key = uuid.uuid4().hex
        start(host, orchestrator, key)
        wait_until((markers / f"{marker}-{key}").exists, 30, f"{orchestrator} to start sleeping")
        _quick_ones_complete_while_pings_answer(host)
        if not blocking_orchestrator:
            return

        def warned() -> str | None:
            lines = host.output().splitlines()
            return next((line for line in lines if "must not block" in line and orchestrator in line), None)

        assert wait_until(warned, 15, f"a warning that orchestrator {orchestrator} must not block")
