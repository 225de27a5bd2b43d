"""Queue triggers end to end: processing, retries with dequeue_count, poison queue, batches, encodings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.storage import drain, drain_json, queue_client, send, unique_name, wait_for_messages
from tests.support.waiting import wait_until

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


@pytest.fixture(scope="module")
def queues() -> dict[str, str]:
    suffix = unique_name("")
    return {
        name: f"{value}-{suffix}"
        for name, value in {
            "QUEUE_IN": "qa-in",
            "QUEUE_OUT": "qa-out",
            "QUEUE_FLAKY": "qa-flaky",
            "QUEUE_POISON": "qa-poison",
            "QUEUE_BATCH": "qa-batch",
            "QUEUE_JSON": "qa-json",
        }.items()
    }


@pytest.fixture(scope="module")
def queue_host(azurite: Azurite, queues: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    with running_devhost(APPS / "queue_app", azurite, data_dir=tmp_path_factory.mktemp("q"), extra_env=queues) as host:
        yield host


def _collect(azurite: Azurite, queue: str, wanted: int, timeout: float = 20.0) -> list[dict[str, object]]:
    client = queue_client(azurite.connection_string, queue)
    found: list[dict[str, object]] = []

    def enough() -> bool:
        found.extend(drain_json(client))
        return len(found) >= wanted

    wait_until(enough, timeout, f"{wanted} message(s) on {queue}")
    return found


def test_message_is_processed_with_queue_message_fields(queue_host: DevHost, azurite: Azurite, queues: dict[str, str]):
    send(queue_client(azurite.connection_string, queues["QUEUE_IN"]), "hello queue")
    (result,) = _collect(azurite, queues["QUEUE_OUT"], 1)
    assert result["fn"] == "process"
    assert result["body"] == "hello queue"
    assert result["dequeue_count"] == 1
    assert result["id"] and result["has_times"] is True
    queue_host.wait_for_output(f"New queue message detected on '{queues['QUEUE_IN']}'")


def test_failed_message_is_retried_with_growing_dequeue_count(
    queue_host: DevHost, azurite: Azurite, queues: dict[str, str]
):
    send(queue_client(azurite.connection_string, queues["QUEUE_FLAKY"]), "retry me")
    results = _collect(azurite, queues["QUEUE_OUT"], 1)
    assert [(r["fn"], r["body"], r["dequeue_count"]) for r in results] == [("flaky", "retry me", 2)]
    queue_host.wait_for_output("failing attempt 1")


def test_message_moves_to_poison_queue_after_max_dequeue_count(
    queue_host: DevHost, azurite: Azurite, queues: dict[str, str]
):
    source = queues["QUEUE_POISON"]
    send(queue_client(azurite.connection_string, source), "bad message")
    poison = queue_client(azurite.connection_string, f"{source}-poison")
    assert wait_for_messages(poison, 1) == ["bad message"]
    output = queue_host.wait_for_output(f"moved to poison queue '{source}-poison'")
    assert output.count("this message is poison") >= 3
    assert "maxDequeueCount of 3" in output
    assert drain(queue_client(azurite.connection_string, source)) == []


def test_batch_runs_messages_concurrently_within_limits(queue_host: DevHost, azurite: Azurite, queues: dict[str, str]):
    client = queue_client(azurite.connection_string, queues["QUEUE_BATCH"])
    for number in range(12):
        send(client, f"m{number}")
    results = _collect(azurite, queues["QUEUE_OUT"], 12, timeout=30)
    assert sorted(str(r["body"]) for r in results) == sorted(f"m{n}" for n in range(12))
    peak = max(int(str(r["max_running"])) for r in results)
    # batchSize 4 + newBatchThreshold 2 bounds concurrency; a batch really runs in parallel.
    assert 2 <= peak <= 6


def test_binding_expressions_from_json_message(queue_host: DevHost, azurite: Azurite, queues: dict[str, str]):
    name = unique_name("doc")
    send(queue_client(azurite.connection_string, queues["QUEUE_JSON"]), json.dumps({"name": name, "text": "body!"}))
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    blob = blobs.get_blob_client("queueapp", f"{name}-1.txt")
    wait_until(blob.exists, 20, "the blob written by the queue function")
    assert blob.download_blob().readall() == b"body!"


def test_message_encoding_none(azurite: Azurite, tmp_path: Path):
    names = {"QUEUE_IN": unique_name("qn-in-"), "QUEUE_OUT": unique_name("qn-out-")}
    with running_devhost(APPS / "queue_none_app", azurite, data_dir=tmp_path, extra_env=names):
        send(queue_client(azurite.connection_string, names["QUEUE_IN"]), "plain text", base64_encoded=False)
        out = queue_client(azurite.connection_string, names["QUEUE_OUT"])
        assert wait_for_messages(out, 1, base64_encoded=False) == ["PLAIN TEXT"]
