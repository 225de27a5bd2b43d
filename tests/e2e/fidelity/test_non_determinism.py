"""A code change under a running orchestration fails it as the Durable extension does (Non-Deterministic)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import APP, completed_tasks, http, instance_url, start, wait_for_status
from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def test_changed_activity_name_fails_the_instance_as_non_deterministic(azurite: Azurite, tmp_path: Path):
    data_dir = tmp_path / "data"
    with running_devhost(APP, azurite, data_dir=data_dir) as host:
        instance_id = start(host, "changing_orchestrator")
        wait_until(lambda: completed_tasks(host, instance_id) == 2, 30, "both activities to complete")
        assert wait_for_status(host, instance_id, {"Running"})["runtimeStatus"] == "Running"
        assert host.terminate() == 0

    # The "new deployment": the orchestrator now schedules echo_changed as its second task (sequence number 1).
    with running_devhost(
        APP, azurite, data_dir=data_dir, extra_env={"FIDELITY_STEP2_ACTIVITY": "echo_changed"}
    ) as host:
        status, text = http("POST", f"{instance_url(host, instance_id)}/raiseEvent/go", "now")
        assert status == 202, (status, text)
        failed = wait_for_status(host, instance_id, {"Failed"})
        # DurableTask.Core words it: "Non-Deterministic workflow detected: A previous execution of this
        # orchestration scheduled an activity task with sequence number 1 named 'echo', but the current
        # orchestration replay instead scheduled an activity task named 'echo_changed' with this sequence
        # number. Was a change made to the orchestrator code after this instance had already started running?"
        output = failed["output"] if isinstance(failed["output"], str) else json.dumps(failed["output"])
        assert "non-deterministic" in output.lower(), output
        assert re.search(r"sequence (number|ID) 1\b", output, re.IGNORECASE), output
        assert "'echo'" in output and "'echo_changed'" in output, output
