"""A worker process that dies in an activity is replaced; the activity runs again and the host stays up.

crash_activity kills its process the first time it runs for a key (os._exit, sys.exit, a segfault, a
MemoryError) and answers "recovered <kind>" when it runs again, so the orchestration completes only if the
host notices the death, starts a new worker and redelivers the activity.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import fidelity_host, http, output_since, start, wait_for_status
from tests.support.azurite import Azurite

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


@pytest.mark.parametrize("kind", ["exit", "sysexit", "segfault", "memory"])
def test_worker_crash_in_activity_is_survived(azurite: Azurite, tmp_path: Path, kind: str):
    with fidelity_host(azurite, tmp_path) as (host, markers):
        before = len(host.output())
        key = uuid.uuid4().hex
        instance_id = start(host, "crash_orchestrator", {"kind": kind, "key": key})
        status = wait_for_status(host, instance_id, {"Completed"}, timeout=20)
        assert status["output"] == f"recovered {kind}"
        assert (markers / f"{kind}-{key}").exists()  # it did crash once: the marker is made just before
        host.wait_for_output("exited")
        after_start = output_since(host, before)
        assert "crash_activity" in after_start and "exited" in after_start, after_start

        assert host.process.poll() is None, "the host itself died"
        assert http("GET", f"{host.base_url}/api/ping") == (200, "pong")
        status_code, _ = http("GET", f"{host.dashboard_url}/")
        assert status_code == 200
