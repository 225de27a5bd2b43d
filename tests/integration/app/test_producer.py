"""producer.py as a user runs it: argument errors, unreachable storage, and real sends to Azurite."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from tests.support.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
PRODUCER = REPO_ROOT / "producer.py"


def run_producer(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run producer.py in a fresh interpreter, as `python producer.py ...` from the repository root."""
    environment = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "HELLO_CITIES_QUEUE")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(PRODUCER), *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dead_storage_connection_string() -> str:
    """A connection string whose endpoints point at a loopback port nobody listens on."""
    port = free_port()
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def receive_all(azurite: Azurite, queue_name: str) -> list[dict[str, object]]:
    """Every message in the queue, base64-decoded and parsed."""
    queue = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    messages = list(queue.receive_messages(max_messages=32))
    return [json.loads(base64.b64decode(m.content)) for m in messages]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["nope"], "invalid choice"),
        (["chaining", "--count", "0"], "--count must be from 1"),
        (["chaining", "--count", "many"], "invalid int value"),
        (["chaining", "--cities"], "expected at least one argument"),
        (["chaining", "--cities", "Oslo", ""], "cities[1] must be a non-empty string"),
        (["chaining", "--cities", "x" * 101], "the maximum is 100"),
        (["fanout", "--request-id", "r1", "--count", "2"], "--request-id needs --count 1"),
        (["fanout", "--request-id", "a/b"], "must not contain /"),
        (["fanout", "--timeout", "0"], "--timeout must be a positive"),
        (["fanout", "--queue", "Bad_Queue"], "not a valid queue name"),
        (["fanout", "--host-url", "localhost:7071"], "--host-url must be an http(s) URL"),
        (["fanout", "--connection-string", "not a connection string"], "not a valid storage connection string"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], complaint: str) -> None:
    result = run_producer(*args)
    assert result.returncode == 2
    assert "usage: producer.py" in result.stderr
    assert complaint in result.stderr
    assert result.stdout == ""


def test_unreachable_storage_is_one_clear_line_and_exit_1() -> None:
    connection_string = dead_storage_connection_string()
    result = run_producer("chaining", "--connection-string", connection_string)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    endpoint = connection_string.split("QueueEndpoint=")[1].rstrip(";")
    assert endpoint in lines[0]
    assert "make run" in lines[0]
    assert "Traceback" not in result.stderr


def test_environment_connection_string_wins_over_local_settings() -> None:
    # local.settings.json says UseDevelopmentStorage=true (port 10001); the environment must win.
    connection_string = dead_storage_connection_string()
    result = run_producer("chaining", env={"AzureWebJobsStorage": connection_string})
    assert result.returncode == 1
    assert connection_string.split("QueueEndpoint=")[1].rstrip(";") in result.stderr


@pytest.mark.azurite
def test_sends_one_base64_json_message_and_prints_its_instance_id(azurite: Azurite) -> None:
    queue_name = f"producer-{uuid.uuid4().hex[:12]}"
    result = run_producer(
        "fanout",
        "--connection-string",
        azurite.connection_string,
        "--queue",
        queue_name,
        "--cities",
        "Oslo",
        "Kraków",
        "--request-id",
        "req-42",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello-req-42"]
    assert receive_all(azurite, queue_name) == [
        {"orchestration": "fanout", "requestId": "req-42", "cities": ["Oslo", "Kraków"]}
    ]


@pytest.mark.azurite
def test_count_sends_distinct_requests_using_environment_settings(azurite: Azurite) -> None:
    queue_name = f"producer-{uuid.uuid4().hex[:12]}"
    result = run_producer(
        "chaining",
        "--count",
        "3",
        env={"AzureWebJobsStorage": azurite.connection_string, "HELLO_CITIES_QUEUE": queue_name},
    )
    assert result.returncode == 0, result.stderr
    instance_ids = result.stdout.splitlines()
    assert len(instance_ids) == 3
    assert "sending" in result.stderr  # the progress bar
    messages = receive_all(azurite, queue_name)
    assert len(messages) == 3
    assert {m["orchestration"] for m in messages} == {"chaining"}
    assert all("cities" not in m for m in messages)
    request_ids = [str(m["requestId"]) for m in messages]
    assert len(set(request_ids)) == 3
    assert all(len(r) == 32 and int(r, 16) >= 0 for r in request_ids)  # uuid4 hex
    assert sorted(f"hello-{r}" for r in request_ids) == sorted(instance_ids)


@pytest.mark.azurite
def test_wait_with_no_host_fails_with_one_line(azurite: Azurite) -> None:
    queue_name = f"producer-{uuid.uuid4().hex[:12]}"
    host_url = f"http://127.0.0.1:{free_port()}"
    result = run_producer(
        "chaining",
        "--wait",
        "--connection-string",
        azurite.connection_string,
        "--queue",
        queue_name,
        "--host-url",
        host_url,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and host_url in lines[0] and "make run" in lines[0], result.stderr
    assert len(result.stdout.splitlines()) == 1  # the instance id was printed before waiting
