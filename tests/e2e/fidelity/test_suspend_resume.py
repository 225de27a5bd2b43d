"""Suspend and resume status codes as the Durable extension answers them.

The extension refuses to suspend a Suspended instance ("Cannot suspend orchestration instance in the
Suspended state.") and to resume a Running one ("Cannot resume orchestration instance in the Running
state."); the HTTP API answers both with 500, which the Python SDK's client.suspend turns into
"The operation failed with an unexpected status code 500" (the extension's Python localizer expects
"... 500 (Internal Server Error)" for SuspendSuspendedInstance and ResumeRunningInstance).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.fidelity.helpers import APP, http, instance_url, start, wait_for_status
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    with running_devhost(APP, azurite, data_dir=tmp_path_factory.mktemp("suspend")) as devhost:
        yield devhost


def _operation(host: DevHost, instance_id: str, operation: str) -> tuple[int, str]:
    return http("POST", f"{instance_url(host, instance_id)}/{operation}?reason=test")


def test_suspend_twice_and_resume_twice_through_the_http_api(host: DevHost):
    instance_id = start(host, "waiting_orchestrator")
    wait_for_status(host, instance_id, {"Running"})

    assert _operation(host, instance_id, "suspend")[0] == 202
    wait_for_status(host, instance_id, {"Suspended"})
    status, body = _operation(host, instance_id, "suspend")
    assert status == 500, (status, body)
    assert "suspended" in body.lower(), body

    assert _operation(host, instance_id, "resume")[0] == 202
    wait_for_status(host, instance_id, {"Running"})
    status, body = _operation(host, instance_id, "resume")
    assert status == 500, (status, body)

    # Still alive and well: the refused operations changed nothing.
    assert http("POST", f"{instance_url(host, instance_id)}/raiseEvent/go", "done")[0] == 202
    assert wait_for_status(host, instance_id, {"Completed"})["output"] == "done"


def test_second_suspend_through_the_sdk_client_fails_with_500(host: DevHost):
    instance_id = start(host, "waiting_orchestrator")
    wait_for_status(host, instance_id, {"Running"})
    status, text = http("POST", f"{host.base_url}/api/suspend_twice/{instance_id}")
    assert status == 200, (status, text)
    assert "500" in text, text
    assert wait_for_status(host, instance_id, {"Suspended"})["runtimeStatus"] == "Suspended"
    assert _operation(host, instance_id, "terminate")[0] == 202
