"""The queue trigger's own receive/delete/lease calls (devhost/bindings/queue_messages.py) against real Azurite,
checked against what the azure-storage-queue SDK sees and returns for the same messages."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.queue import QueueClient

from devhost.bindings.queue_messages import KeyedQueueMessages, SdkQueueMessages
from devhost.bindings.storage import StorageClients
from tests.support.azurite import Azurite
from tests.support.ports import free_port
from tests.support.storage import queue_client, unique_name

pytestmark = [pytest.mark.azurite]


@pytest_asyncio.fixture
async def clients() -> AsyncIterator[StorageClients]:
    shared = StorageClients()
    try:
        yield shared
    finally:
        await shared.close()


def sent(azurite: Azurite, *texts: str) -> tuple[QueueClient, str]:
    name = unique_name("messages-")
    sync = queue_client(azurite.connection_string, name)
    for text in texts:
        sync.send_message(text)
    return sync, name


async def test_receive_gives_the_messages_as_the_sdk_does(azurite: Azurite, clients: StorageClients) -> None:
    texts = ["plain", "<xml & 'quotes'> é 東京", base64.b64encode(b'{"city": "Paris"}').decode()]
    sync, name = sent(azurite, *texts)
    messages = clients.queue_messages(azurite.connection_string, name)
    assert isinstance(messages, KeyedQueueMessages)
    before = datetime.now(UTC) - timedelta(seconds=2)
    received = await messages.receive(32, 30)
    assert [m.content for m in received] == texts
    for message in received:
        assert message.dequeue_count == 1 and message.pop_receipt and message.id
        assert message.inserted_on is not None and message.inserted_on >= before.replace(microsecond=0)
        assert message.expires_on is not None and message.expires_on > message.inserted_on
        assert message.next_visible_on is not None
        assert message.next_visible_on - message.inserted_on >= timedelta(seconds=28)
        assert message.inserted_on.tzinfo is not None
    assert sync.get_queue_properties().approximate_message_count == 3
    assert list(sync.receive_messages()) == [], "received messages are invisible"
    for message in received:
        await messages.delete(message)
    assert sync.get_queue_properties().approximate_message_count == 0


async def test_a_lease_update_makes_the_message_visible_and_changes_its_receipt(
    azurite: Azurite, clients: StorageClients
) -> None:
    sync, name = sent(azurite, "lease me")
    messages = clients.queue_messages(azurite.connection_string, name)
    (message,) = await messages.receive(1, 30)
    old_receipt = message.pop_receipt
    await messages.update_visibility(message, 60)
    assert message.pop_receipt != old_receipt
    assert message.next_visible_on is not None and message.next_visible_on > datetime.now(UTC) + timedelta(seconds=50)
    await messages.update_visibility(message, 0)
    (again,) = list(sync.receive_messages())
    assert (again.content, again.dequeue_count) == ("lease me", 2)
    with pytest.raises(HttpResponseError, match="PopReceiptMismatch"):
        await messages.delete(message)  # its receipt is no longer the message's: the SDK's error too
    sync.delete_message(again)


async def test_errors_are_the_sdks_kinds(azurite: Azurite, clients: StorageClients) -> None:
    missing = clients.queue_messages(azurite.connection_string, unique_name("missing-"))
    with pytest.raises(ResourceNotFoundError):
        await missing.receive(1, 30)
    wrong_key = azurite.connection_string.replace(
        azurite.connection_string.split("AccountKey=")[1].split(";")[0], base64.b64encode(b"not the key").decode()
    )
    _, name = sent(azurite, "x")
    with pytest.raises(ClientAuthenticationError):
        await clients.queue_messages(wrong_key, name).receive(1, 30)
    unreachable = azurite.connection_string.replace(f":{azurite.queue_port}/", f":{free_port()}/")
    with pytest.raises(ServiceRequestError):
        await clients.queue_messages(unreachable, name).receive(1, 30)


async def test_a_connection_string_without_a_key_uses_the_sdk(azurite: Azurite, clients: StorageClients) -> None:
    endpoint = f"http://127.0.0.1:{azurite.queue_port}/devstoreaccount1"
    sas = f"QueueEndpoint={endpoint};SharedAccessSignature=sv=2020-08-04&sig=x"
    assert isinstance(clients.queue_messages(sas, "anything"), SdkQueueMessages)
