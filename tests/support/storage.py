"""Small helpers over the storage SDKs for tests: unique names, sending and reading queue messages."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient


def unique_name(prefix: str) -> str:
    """A queue/table-safe unique name: prefix plus 8 hex characters (lower-case, no double hyphens)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def queue_client(connection_string: str, name: str) -> QueueClient:
    """A sync queue client; the queue is created when missing."""
    client = QueueClient.from_connection_string(connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def send(client: QueueClient, text: str, *, base64_encoded: bool = True) -> None:
    """Send text as the Functions host expects it (base64 of UTF-8 by default)."""
    client.send_message(base64.b64encode(text.encode()).decode() if base64_encoded else text)


def drain(client: QueueClient, *, base64_encoded: bool = True) -> list[str]:
    """Receive and delete every visible message; returns their decoded texts."""
    texts: list[str] = []
    try:
        for message in client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=30):
            content = str(message.content)
            texts.append(base64.b64decode(content).decode() if base64_encoded else content)
            client.delete_message(message)
    except ResourceNotFoundError:
        return []
    return texts


def drain_json(client: QueueClient) -> list[Any]:
    """drain() with each message parsed as JSON."""
    return [json.loads(text) for text in drain(client)]


def peek_count(client: QueueClient) -> int:
    """How many messages the queue holds (approximate, from its properties)."""
    try:
        return int(client.get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0


def wait_for_messages(
    client: QueueClient, count: int, timeout: float = 20.0, *, base64_encoded: bool = True
) -> list[str]:
    """Drain the queue until at least count messages arrived (AssertionError on timeout); returns them all."""
    from tests.support.waiting import wait_until

    texts: list[str] = []

    def enough() -> bool:
        texts.extend(drain(client, base64_encoded=base64_encoded))
        return len(texts) >= count

    wait_until(enough, timeout, f"{count} message(s) on queue {client.queue_name}")
    return texts
