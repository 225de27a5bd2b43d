"""Hello Cities end to end: the real app under the local host, with real Azurite, HTTP and queues.

The HTTP starters are tested through devhost's pytest plugin in test_hello_cities_plugin.py."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]
GREETINGS_3 = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
GREETINGS_5 = [*GREETINGS_3, "Hello Paris!", "Hello Berlin!"]


@dataclass(frozen=True)
class App:
    """The running app and the settings this test module gave it."""

    host: DevHost
    azurite: Azurite
    queue: str
    table: str

    def queue_client(self, name: str | None = None) -> QueueClient:
        return QueueClient.from_connection_string(self.azurite.connection_string, name or self.queue)


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:10]
    queue, table = f"hello-e2e-{suffix}", f"HelloE2E{suffix}"
    settings = {"HELLO_CITIES_QUEUE": queue, "HELLO_CITIES_RESULTS_TABLE": table}
    QueueClient.from_connection_string(azurite.connection_string, queue).create_queue()
    with running_devhost(REPO_ROOT, azurite, extra_env=settings) as host:
        yield App(host, azurite, queue, table)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers, parsed JSON body or None) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return status, headers, json.loads(raw) if raw.strip() else None


def status_of(app: App, instance_id: str, history: bool = False) -> dict[str, Any] | None:
    quoted = urllib.parse.quote(instance_id, safe="")
    query = "?showHistory=true" if history else ""
    code, _, body = http("GET", f"{app.host.base_url}/runtime/webhooks/durabletask/instances/{quoted}{query}")
    return None if code == 404 else body


def wait_completed(url: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        _, _, body = http("GET", url)
        return body if body and body.get("runtimeStatus") in ("Completed", "Failed", "Terminated") else None

    status = wait_until(finished, timeout, f"{url} to finish", interval=0.2)
    assert status is not None
    return status


def send_raw(app: App, text: str) -> None:
    send_raw_to(app.queue_client(), text)


def test_producer_fanout_wait_prints_the_five_greetings(app: App) -> None:
    result = subprocess.run(
        [
            sys.executable, "producer.py", "fanout", "--wait", "--timeout", "60",
            "--host-url", app.host.base_url,
            "--connection-string", app.azurite.connection_string,
            "--queue", app.queue,
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    instance_line, output_line = result.stdout.splitlines()
    assert instance_line.startswith("hello-")
    instance_id, _, output = output_line.partition(": ")
    assert instance_id == instance_line
    assert json.loads(output) == GREETINGS_5


def test_results_lists_completed_runs(app: App) -> None:
    _, _, started = http("POST", f"{app.host.base_url}/api/StartChaining", b'{"cities": ["Quito"]}')
    wait_completed(started["statusQueryGetUri"])
    code, _, body = http("GET", f"{app.host.base_url}/api/results?orchestration=chaining&top=1000")
    assert code == 200
    by_id = {r["instanceId"]: r for r in body["results"]}
    assert by_id[started["id"]]["output"] == ["Hello Quito!"]
    assert by_id[started["id"]]["orchestration"] == "chaining"
    assert all(r["orchestration"] == "chaining" for r in body["results"])
    assert len(by_id) == len(body["results"])  # each run listed once
    code, _, body = http("GET", f"{app.host.base_url}/api/results?top=5000")
    assert code == 400 and "top" in body["error"]


def test_a_duplicate_queue_message_starts_one_orchestration(app: App) -> None:
    request_id = uuid.uuid4().hex
    message = json.dumps({"orchestration": "chaining", "requestId": request_id})
    send_raw(app, message)
    send_raw(app, message)
    instance_id = f"hello-{request_id}"

    def completed() -> dict[str, Any] | None:
        status = status_of(app, instance_id, history=True)
        return status if status and status["runtimeStatus"] == "Completed" else None

    status = wait_until(completed, 60, f"{instance_id} to complete", interval=0.2)
    assert status is not None and status["output"] == GREETINGS_3
    # Both messages consumed (none left, none poisoned) ...
    wait_until(
        lambda: app.queue_client().get_queue_properties().approximate_message_count == 0, 30, "the queue to drain"
    )
    # ... yet one execution only: one ExecutionStarted and three activity completions in its history.
    final = status_of(app, instance_id, history=True)
    assert final is not None
    events = [e["EventType"] for e in final["historyEvents"]]
    assert events.count("ExecutionStarted") == 1
    assert events.count("TaskCompleted") == 3
    code, _, listed = http(
        "GET", f"{app.host.base_url}/runtime/webhooks/durabletask/instances/?instanceIdPrefix={instance_id}"
    )
    assert code == 200 and [i["instanceId"] for i in listed] == [instance_id]


def test_a_malformed_message_ends_in_the_poison_queue(app: App) -> None:
    marker = uuid.uuid4().hex
    send_raw(app, f'{{"orchestration": "teleport", "requestId": "{marker}"}}')
    poison = app.queue_client(f"{app.queue}-poison")

    def poisoned() -> list[str]:
        try:
            peeked = poison.peek_messages(max_messages=32)
        except Exception:
            return []  # the poison queue is created on first use
        return [m.content for m in peeked if marker in base64.b64decode(m.content).decode("utf-8", "replace")]

    wait_until(poisoned, 90, "the malformed message to reach the poison queue", interval=0.5)
    assert status_of(app, f"hello-{marker}") is None
    assert "orchestration must be 'chaining' or 'fanout', got 'teleport'" in app.host.output()


def test_start_requests_queued_before_the_host_starts_all_complete(azurite: Azurite) -> None:
    """12 requests queued before the host starts arrive in its first fetch, and each starts one run."""
    queue = f"hello-backlog-{uuid.uuid4().hex[:10]}"
    client = QueueClient.from_connection_string(azurite.connection_string, queue)
    client.create_queue()
    request_ids = [uuid.uuid4().hex for _ in range(12)]
    for request_id in request_ids:
        send_raw_to(client, json.dumps({"orchestration": "chaining", "requestId": request_id}))
    settings = {"HELLO_CITIES_QUEUE": queue, "HELLO_CITIES_RESULTS_TABLE": f"HelloBacklog{uuid.uuid4().hex[:10]}"}
    with running_devhost(REPO_ROOT, azurite, extra_env=settings) as host:
        backlog_app = App(host, azurite, queue, settings["HELLO_CITIES_RESULTS_TABLE"])

        def all_completed() -> bool:
            statuses = [status_of(backlog_app, f"hello-{request_id}") for request_id in request_ids]
            return all(status and status["runtimeStatus"] == "Completed" for status in statuses)

        wait_until(all_completed, 90, "the 12 queued orchestrations to complete", interval=0.5)
        for request_id in request_ids:
            status = status_of(backlog_app, f"hello-{request_id}")
            assert status is not None and status["output"] == GREETINGS_3


def send_raw_to(client: QueueClient, text: str) -> None:
    client.send_message(base64.b64encode(text.encode("utf-8")).decode("ascii"))
