"""Small blocking HTTP helpers for the fidelity tests: start orchestrations, read and await their status."""

from __future__ import annotations

import contextlib
import json
import math
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "apps" / "fidelity_app"
WEBHOOK = "/runtime/webhooks/durabletask"
TERMINAL = frozenset({"Completed", "Failed", "Terminated"})


@contextlib.contextmanager
def fidelity_host(azurite: Azurite, tmp_path: Path) -> Iterator[tuple[DevHost, Path]]:
    """The fidelity app on a host, and the FIDELITY_MARKERS folder its functions touch files in."""
    markers = tmp_path / "markers"
    markers.mkdir()
    with running_devhost(
        APP, azurite, data_dir=tmp_path / "data", extra_env={"FIDELITY_MARKERS": str(markers)}
    ) as host:
        yield host, markers


def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, str]:
    """One request; JSON-encodes body when given. Returns (status, body text), error statuses included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def start(host: DevHost, orchestrator: str, orchestration_input: Any = None) -> str:
    """Start `orchestrator` through the app's HTTP starter; returns the instance id (asserts the 202 payload)."""
    status, text = http("POST", f"{host.base_url}/api/start/{orchestrator}", orchestration_input)
    assert status == 202, (status, text)
    payload = json.loads(text)
    assert payload["statusQueryGetUri"].startswith(instance_url(host, payload["id"])), payload
    return str(payload["id"])


def instance_url(host: DevHost, instance_id: str) -> str:
    """The management API URL of an instance on this host."""
    return f"{host.base_url}{WEBHOOK}/instances/{instance_id}"


def get_status(host: DevHost, instance_id: str, show_history: bool = False) -> dict[str, Any]:
    """GET the instance's status object (200 or 202 while running)."""
    query = "?showHistory=true&showHistoryOutput=true" if show_history else ""
    status, text = http("GET", instance_url(host, instance_id) + query)
    assert status in (200, 202), (status, text)
    result: dict[str, Any] = json.loads(text)
    return result


def wait_for_status(host: DevHost, instance_id: str, wanted: Collection[str], timeout: float = 30.0) -> dict[str, Any]:
    """Poll until runtimeStatus is one of wanted; returns the status object.

    Ending in another terminal status fails at once with the status object, instead of waiting out timeout.
    """

    def settled() -> dict[str, Any]:  # empty (falsy) until settled
        status = get_status(host, instance_id)
        return status if status["runtimeStatus"] in wanted or status["runtimeStatus"] in TERMINAL else {}

    status = wait_until(settled, timeout, f"instance {instance_id} to be {'/'.join(wanted)}")
    assert status["runtimeStatus"] in wanted, f"instance {instance_id} ended {status['runtimeStatus']}: {status}"
    return status


def completed_tasks(host: DevHost, instance_id: str) -> int:
    """How many TaskCompleted events the instance's history has."""
    history = get_status(host, instance_id, show_history=True).get("historyEvents") or []
    return sum(1 for event in history if event.get("EventType") == "TaskCompleted")


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def output_since(host: DevHost, offset: int) -> str:
    """What the host printed after offset characters of its output."""
    return host.output()[offset:]
