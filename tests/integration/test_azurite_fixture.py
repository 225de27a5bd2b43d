"""The Azurite fixture really serves queues, tables and blobs."""

from __future__ import annotations

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from tests.support.azurite import Azurite


def test_azurite_serves_queue_table_and_blob(azurite: Azurite) -> None:
    queue = QueueClient.from_connection_string(azurite.connection_string, "fixture-check")
    queue.create_queue()
    queue.send_message("ping")
    assert [m.content for m in queue.receive_messages()] == ["ping"]

    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    table = tables.create_table_if_not_exists("fixturecheck")
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
    assert table.get_entity("p", "r")["value"] == 1

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = blobs.create_container("fixture-check")
    container.upload_blob("a.txt", b"hello")
    assert container.download_blob("a.txt").readall() == b"hello"
