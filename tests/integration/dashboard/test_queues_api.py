"""The dashboard's queue and results views against a real Azurite (and a storage account that is down)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.dashboard.app import DashboardSettings
from tests.support.azurite import Azurite
from tests.support.blob_triggers import running_blob_app, upload
from tests.support.dashboard import DashboardStack, running_dashboard
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.azurite
async def test_queues_peek_requeue_and_results(azurite: Azurite, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    queue, table = f"cities-{suffix}", f"results{suffix}"
    poison = f"{queue}-poison"
    async with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.create_queue(queue)
        await service.create_queue(poison)
        await service.get_queue_client(queue).send_message(_b64({"city": "Tokyo"}))
        for city in ("Atlantis", "El Dorado"):
            await service.get_queue_client(poison).send_message(_b64({"city": city}))
        await service.get_queue_client(poison).send_message("plain text, not base64!")
    async with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        client = await tables.create_table_if_not_exists(table)
        entity = {"PartitionKey": "results", "RowKey": "r1", "City": "Tokyo", "Greeting": "Hello Tokyo!"}
        await client.create_entity(entity)

    settings = DashboardSettings(
        task_hub="QueueHub",
        storage_connection_string=azurite.connection_string,
        queue_names=["watched-but-missing", queue],
        results_table=table,
    )
    async with running_dashboard(tmp_path / "hub", settings, task_hub="QueueHub") as stack:
        pairs = await _pairs(stack)
        assert pairs[queue]["queue"]["approximateMessageCount"] == 1
        assert pairs[queue]["poison"] == {"name": poison, "exists": True, "approximateMessageCount": 3}
        assert pairs[queue]["watched"] is True
        assert pairs["watched-but-missing"]["queue"]["exists"] is False

        status, peeked = await stack.get(f"/api/queues/{poison}/messages")
        assert status == 200
        messages = peeked["messages"]
        assert [m["json"] for m in messages[:2]] == [{"city": "Atlantis"}, {"city": "El Dorado"}]
        assert messages[0]["encoding"] == "base64" and messages[0]["dequeueCount"] == 0
        assert messages[2]["encoding"] == "text" and messages[2]["decoded"] == "plain text, not base64!"

        status, moved = await stack.post(f"/api/queues/{poison}/messages/{messages[1]['id']}/requeue")
        assert status == 200 and moved["queue"] == queue
        pairs = await _pairs(stack)
        assert pairs[queue]["queue"]["approximateMessageCount"] == 2
        assert pairs[queue]["poison"]["approximateMessageCount"] == 2
        _, original = await stack.get(f"/api/queues/{queue}/messages")
        # Content is sent back unchanged (still base64), after the message that was already there.
        assert [m["json"] for m in original["messages"]] == [{"city": "Tokyo"}, {"city": "El Dorado"}]
        # The others were only looked at: visible again at once, in the poison queue.
        _, left = await stack.get(f"/api/queues/{poison}/messages")
        assert {m["id"] for m in left["messages"]} == {messages[0]["id"], messages[2]["id"]}

        status, error = await stack.post(f"/api/queues/{poison}/messages/{messages[1]['id']}/requeue")
        assert status == 404, error
        status, error = await stack.post(f"/api/queues/{queue}/messages/{messages[0]['id']}/requeue")
        assert status == 400, error  # not a poison queue
        assert (await stack.get("/api/queues/no-such-queue/messages"))[0] == 404

        status, results = await stack.get("/api/results")
        assert status == 200 and results["exists"] is True
        assert [(r["RowKey"], r["City"], r["Greeting"]) for r in results["rows"]] == [("r1", "Tokyo", "Hello Tokyo!")]


async def _pairs(stack: DashboardStack) -> dict[str, dict]:
    status, body = await stack.get("/api/queues")
    assert status == 200 and body["configured"] is True, body
    return {pair["name"]: pair for pair in body["queues"]}


async def test_storage_down_is_reported_and_the_rest_still_works(tmp_path: Path) -> None:
    dead = free_port()
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"QueueEndpoint=http://127.0.0.1:{dead}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{dead}/devstoreaccount1;"
    )
    settings = DashboardSettings(task_hub="DownHub", storage_connection_string=connection, results_table="results")
    async with running_dashboard(tmp_path / "hub", settings, task_hub="DownHub") as stack:
        status, body = await stack.get("/api/queues")
        assert status == 503 and body["error"]["type"] == "StorageUnavailableError"
        assert (await stack.get("/api/results"))[0] == 503
        assert (await stack.get("/api/queues/cities/messages"))[0] == 503
        status, page = await stack.get("/api/instances")
        assert status == 200 and page["instances"] == []


async def test_without_storage_the_queue_view_says_so(tmp_path: Path) -> None:
    async with running_dashboard(tmp_path / "hub", DashboardSettings(task_hub="NoStore"), task_hub="NoStore") as stack:
        assert await stack.get("/api/queues") == (200, {"configured": False, "queues": []})
        status, results = await stack.get("/api/results")
        assert status == 200 and results["configured"] is False


@pytest.mark.azurite
async def test_blob_triggers_show_containers_blobs_seen_and_poison_entries(
    azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real blob trigger listeners (tests/apps/blob_app in a worker) feed the Queues page's blob panel."""
    async with running_blob_app(azurite, tmp_path, monkeypatch) as app:
        containers = app.containers
        await upload(azurite, containers["BLOB_INPUT"], "a.txt", b"a")
        await upload(azurite, containers["BLOB_INPUT"], "b.txt", b"b")
        await upload(azurite, containers["BLOB_FAILING"], "bad.txt", b"bad")
        settings = DashboardSettings(
            task_hub="BlobHub", storage_connection_string=azurite.connection_string, blob_triggers=app.listeners
        )
        async with running_dashboard(tmp_path / "hub", settings, task_hub="BlobHub") as stack:

            async def settled() -> dict[str, Any] | None:
                status, body = await stack.get("/api/blob-triggers")
                assert status == 200, body
                rows = {row["function"]: row for row in body["triggers"]}
                done = rows["process_upload"]["done"] == 2 and rows["always_fails"]["poisoned"] == 1
                mine = [entry for entry in body["poison"] if entry["container"] == containers["BLOB_FAILING"]]
                return {"rows": rows, "poison": mine, "body": body} if done and mine else None

            found = await wait_until_async(settled, 30, "both blobs processed and the bad one poisoned")
            assert found is not None
            scan = found["rows"]["process_upload"]
            assert scan.pop("scans") >= 1 and scan.pop("lastScanMs") >= 0 and scan.pop("lastScanBlobs") == 2
            assert scan == {
                "function": "process_upload",
                "path": f"{containers['BLOB_INPUT']}/{{name}}",
                "container": containers["BLOB_INPUT"],
                "blobsSeen": 2,
                "versions": 2,
                "done": 2,
                "pending": 0,
                "poisoned": 0,
            }
            assert found["rows"]["always_fails"]["blobsSeen"] == 1
            (entry,) = found["poison"]
            assert (entry["function"], entry["blob"]) == ("always_fails", "bad.txt")
            assert entry["etag"].startswith('"') and found["body"]["poisonQueue"] == "webjobs-blobtrigger-poison"
            # A blob poison entry names a blob version, not a message of some queue: it cannot be requeued.
            status, error = await stack.post(f"/api/queues/webjobs-blobtrigger-poison/messages/{entry['id']}/requeue")
            assert status == 400 and "upload the blob again" in error["error"]["message"], error
