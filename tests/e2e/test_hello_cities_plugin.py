"""Hello Cities end to end through devhost's own pytest plugin (durable_host): the project eats its own cooking.

The repository root is the app (devhost_app_dir defaults to the rootdir); devhost_app_settings points its
storage at the tests' Azurite on free ports and gives this module its own queue and results table.
"""

from __future__ import annotations

import uuid

import pytest
from azure.storage.queue import QueueClient

from devhost.testing import DurableHost
from tests.support.azurite import Azurite
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
GREETINGS_3 = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
SUFFIX = uuid.uuid4().hex[:10]
QUEUE = f"hello-plugin-{SUFFIX}"


@pytest.fixture(scope="session")
def devhost_app_settings(azurite: Azurite) -> dict[str, str]:
    QueueClient.from_connection_string(azurite.connection_string, QUEUE).create_queue()
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "HELLO_CITIES_QUEUE": QUEUE,
        "HELLO_CITIES_RESULTS_TABLE": f"HelloPlugin{SUFFIX}",
    }


def test_http_chaining_runs_to_the_three_greetings(durable_host: DurableHost) -> None:
    response = durable_host.http("POST", "StartChaining")
    assert response.status == 202
    body = response.json()
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith(durable_host.origin)
    status = durable_host.wait(body["id"])
    assert status.runtime_status.value == "Completed"
    assert status.output == GREETINGS_3


def test_http_custom_cities_and_bad_bodies(durable_host: DurableHost) -> None:
    response = durable_host.http("POST", "StartFanOutFanIn", json={"cities": ["Oslo", "Lima"]})
    assert response.status == 202
    assert durable_host.wait(response.json()["id"]).output == ["Hello Oslo!", "Hello Lima!"]
    response = durable_host.http("POST", "StartChaining", json={"cities": []})
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "cities must hold 1 to 10000 cities, got 0"}


def test_a_queued_request_runs_once_and_the_collector_records_it(durable_host: DurableHost) -> None:
    request_id = uuid.uuid4().hex
    message = {"orchestration": "chaining", "requestId": request_id, "cities": ["Quito"]}
    durable_host.send_queue_message(QUEUE, message)
    durable_host.send_queue_message(QUEUE, message)  # delivered twice: still one orchestration
    instance_id = f"hello-{request_id}"
    assert durable_host.wait(instance_id).output == ["Hello Quito!"]
    durable_host.fire_timer("collect_results")
    response = durable_host.http("GET", "results?orchestration=chaining&top=1000")
    assert response.status == 200
    rows = [row for row in response.json()["results"] if row["instanceId"] == instance_id]
    assert [row["output"] for row in rows] == [["Hello Quito!"]]
    started = f"Started chaining orchestration with ID = '{instance_id}'"
    wait_until(lambda: any(started in line for line in durable_host.logs), 10, "the start to be logged")
    assert sum(started in line for line in durable_host.logs) == 1
