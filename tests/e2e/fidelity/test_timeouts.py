"""host.json functionTimeout (00:00:05 in the fidelity app) ends a spinning function as Azure's host does.

The host cannot stop a Python thread that never yields, so it ends the worker process running it, logs
"Timeout value of 00:00:05 exceeded by function 'Functions.<name>' (Id: '...'). Initiating cancellation.",
fails the invocation with that text and starts a new worker for the functions that follow.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import fidelity_host, start, wait_for_status
from tests.support.azurite import Azurite
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

TIMEOUT_TEXT = "Timeout value of 00:00:05 exceeded by function"
#: The timeout is 5 s; the instance must be Failed at most 8 s after the function started spinning.
FAILED_WITHIN_S = 8.0


@pytest.mark.parametrize(
    ("orchestrator", "spinning_function", "marker"),
    [
        ("spinning_orchestrator", "spinning_orchestrator", "spinning-orchestrator"),
        ("spinning_activity_orchestrator", "spinning_activity", "spinning-activity"),
    ],
)
def test_spinning_function_times_out_and_its_worker_is_replaced(
    azurite: Azurite, tmp_path: Path, orchestrator: str, spinning_function: str, marker: str
):
    with fidelity_host(azurite, tmp_path) as (host, markers):
        key = uuid.uuid4().hex
        instance_id = start(host, orchestrator, key)
        wait_until((markers / f"{marker}-{key}").exists, 30, f"{spinning_function} to start spinning")
        spinning_since = time.monotonic()
        failed = wait_for_status(host, instance_id, {"Failed"}, timeout=FAILED_WITHIN_S)
        assert time.monotonic() - spinning_since <= FAILED_WITHIN_S
        assert TIMEOUT_TEXT in str(failed["output"]), failed
        host.wait_for_output(f"{TIMEOUT_TEXT} 'Functions.{spinning_function}'", "Initiating cancellation.")

        # The spinning worker was replaced: later work runs.
        quick_id = start(host, "quick_orchestrator", "after")
        assert wait_for_status(host, quick_id, {"Completed"})["output"] == ["after-1", "after-2"]
        output = host.output()
        assert output.count("Worker process") >= 2, output
