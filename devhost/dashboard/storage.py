"""The app's storage queues, their poison twins and the results table, seen through the async Azure SDKs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.bindings.storage import client_options
from devhost.dashboard.payloads import iso
from devhost.errors import DevHostError, InvalidRequestError

# Its entries name blob versions, not messages of a queue "webjobs-blobtrigger": they cannot be requeued.
from devhost.triggers.blob import POISON_QUEUE as BLOB_POISON_QUEUE

POISON_SUFFIX = "-poison"
_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
# Fail fast when storage is down: the dashboard must answer, not retry for a minute.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 10}

T = TypeVar("T")


class StorageUnavailableError(DevHostError):
    """Storage is not configured, unreachable or refused the request (HTTP 503)."""

    http_status = 503


class QueueMessageNotFoundError(DevHostError):
    """The queue or message does not exist, or the message is invisible right now (HTTP 404)."""

    http_status = 404


def validate_queue_name(name: str) -> str:
    """The name if it is a valid Azure queue name, else InvalidRequestError."""
    if not _QUEUE_NAME.match(name):
        raise InvalidRequestError(
            f"invalid queue name {name!r}: 3-63 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class QueueState:
    """A queue and its approximate message count (None when it does not exist)."""

    name: str
    exists: bool
    approximate_message_count: int | None

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {"name": self.name, "exists": self.exists, "approximateMessageCount": self.approximate_message_count}


@dataclass(frozen=True)
class QueuePair:
    """A work queue with its poison twin (`<name>-poison`), where the host moves messages that keep failing."""

    queue: QueueState
    poison: QueueState
    watched: bool

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "name": self.queue.name,
            "watched": self.watched,
            "queue": self.queue.to_json(),
            "poison": self.poison.to_json(),
        }


def decode_content(content: str) -> dict[str, Any]:
    """Raw message text plus its base64-decoded text (when it decodes to UTF-8) and JSON value (when it parses)."""
    decoded: str | None = None
    try:
        raw = base64.b64decode(content, validate=True)
        if content.strip():
            decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        decoded = None
    text = decoded if decoded is not None else content
    try:
        value: Any = json.loads(text)
        is_json = True
    except ValueError:
        value, is_json = None, False
    return {
        "content": content,
        "encoding": "base64" if decoded is not None else "text",
        "decoded": text,
        "json": value,
        "isJson": is_json,
    }


def _entity_json(entity: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in dict(entity).items():
        value = getattr(value, "value", value)  # EntityProperty(value, type) for typed values
        if isinstance(value, datetime):
            row[key] = iso(value)
        elif isinstance(value, bytes):
            row[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, str | int | float | bool) or value is None:
            row[key] = value
        else:
            row[key] = str(value)
    stamp = getattr(entity, "metadata", {}).get("timestamp")
    if isinstance(stamp, datetime):
        row.setdefault("Timestamp", iso(stamp))
    return row


class StorageMonitor:
    """Reads queues and the results table; one instance per dashboard app, closed with it."""

    def __init__(
        self,
        connection_string: str | None,
        watched_queues: Sequence[str],
        results_table: str | None,
        *,
        timeout_s: float = 8.0,
    ) -> None:
        self._connection_string = connection_string
        self._watched = [name.lower() for name in watched_queues]
        self.results_table = results_table
        self._timeout_s = timeout_s
        self._queues: QueueServiceClient | None = None
        self._tables: TableServiceClient | None = None

    @property
    def configured(self) -> bool:
        """True when a storage connection string was given."""
        return bool(self._connection_string)

    def _queue_service(self) -> QueueServiceClient:
        if not self._connection_string:
            raise StorageUnavailableError("no storage connection string is configured")
        if self._queues is None:
            try:
                self._queues = QueueServiceClient.from_connection_string(
                    self._connection_string, **client_options(self._connection_string, _CLIENT_OPTIONS)
                )
            except ValueError as exc:
                raise StorageUnavailableError(f"invalid storage connection string: {exc}") from None
        return self._queues

    def _table_service(self) -> TableServiceClient:
        if not self._connection_string:
            raise StorageUnavailableError("no storage connection string is configured")
        if self._tables is None:
            try:
                self._tables = TableServiceClient.from_connection_string(
                    self._connection_string, **client_options(self._connection_string, _CLIENT_OPTIONS)
                )
            except ValueError as exc:
                raise StorageUnavailableError(f"invalid storage connection string: {exc}") from None
        return self._tables

    async def _call(self, operation: Awaitable[T]) -> T:
        """Await a storage operation with a deadline; outages become StorageUnavailableError."""
        try:
            return await asyncio.wait_for(operation, self._timeout_s)
        except ResourceNotFoundError:
            raise
        except TimeoutError:
            raise StorageUnavailableError(f"storage did not answer within {self._timeout_s:g} s") from None
        except AzureError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StorageUnavailableError(f"storage is unreachable: {message}") from None

    async def close(self) -> None:
        """Close the SDK clients (their HTTP sessions)."""
        for client in (self._queues, self._tables):
            if client is not None:
                await client.close()
        self._queues = self._tables = None

    async def _queue_state(self, name: str, existing: set[str]) -> QueueState:
        if name not in existing:
            return QueueState(name, False, None)
        try:
            props = await self._call(self._queue_service().get_queue_client(name).get_queue_properties())
        except ResourceNotFoundError:  # deleted since it was listed
            return QueueState(name, False, None)
        return QueueState(name, True, props.approximate_message_count)

    async def queue_pairs(self) -> list[QueuePair]:
        """Watched queues plus every queue in the account, each with its poison twin, sorted by name."""
        service = self._queue_service()

        async def list_names() -> list[str]:
            return [queue.name async for queue in service.list_queues()]

        existing = set(await self._call(list_names()))
        bases = set(self._watched)
        for name in existing:
            bases.add(name[: -len(POISON_SUFFIX)] if name.endswith(POISON_SUFFIX) else name)
        pairs = []
        for base in sorted(bases):
            queue, poison = await asyncio.gather(
                self._queue_state(base, existing), self._queue_state(base + POISON_SUFFIX, existing)
            )
            pairs.append(QueuePair(queue, poison, watched=base in self._watched))
        return pairs

    async def peek(self, queue_name: str, max_messages: int = 32) -> list[dict[str, Any]]:
        """Up to max_messages (1-32) visible messages from the front of the queue, without dequeuing them."""
        client = self._queue_service().get_queue_client(validate_queue_name(queue_name))
        try:
            messages = await self._call(client.peek_messages(max_messages=max_messages))
        except ResourceNotFoundError:
            raise QueueMessageNotFoundError(f"queue {queue_name!r} does not exist") from None
        peeked = []
        for message in messages:
            shaped = {
                "id": message.id,
                "insertedOn": iso(message.inserted_on),
                "expiresOn": iso(message.expires_on),
                "dequeueCount": message.dequeue_count,
            }
            shaped.update(decode_content(str(message.content or "")))
            peeked.append(shaped)
        return peeked

    async def requeue(self, poison_queue: str, message_id: str) -> str:
        """Send a poison message back to its original queue (content unchanged) and delete it from the poison queue.

        Returns the original queue's name. Messages looked at on the way are made visible again at once.
        """
        validate_queue_name(poison_queue)
        if not poison_queue.endswith(POISON_SUFFIX):
            raise InvalidRequestError(
                f"{poison_queue!r} is not a poison queue (its name must end with {POISON_SUFFIX})"
            )
        if poison_queue == BLOB_POISON_QUEUE:
            raise InvalidRequestError(
                f"{poison_queue!r} lists blob versions whose function failed maxDequeueCount times; there is no "
                "queue to send them back to: upload the blob again (a new ETag) to run the function again"
            )
        target = validate_queue_name(poison_queue[: -len(POISON_SUFFIX)])
        service = self._queue_service()
        source = service.get_queue_client(poison_queue)
        try:
            received = await self._call(self._receive_all(source))
        except ResourceNotFoundError:
            raise QueueMessageNotFoundError(f"queue {poison_queue!r} does not exist") from None
        found = next((message for message in received if message.id == message_id), None)
        try:
            if found is not None:
                destination = service.get_queue_client(target)
                try:
                    await self._call(destination.send_message(found.content))
                except ResourceNotFoundError:
                    await self._call(destination.create_queue())
                    await self._call(destination.send_message(found.content))
                await self._call(source.delete_message(found.id, found.pop_receipt))
        finally:
            for message in received:
                if message is not found:
                    await self._call(source.update_message(message.id, message.pop_receipt, visibility_timeout=0))
        if found is None:
            raise QueueMessageNotFoundError(f"message {message_id!r} is not (or no longer) visible in {poison_queue!r}")
        return target

    @staticmethod
    async def _receive_all(client: Any, limit: int = 256) -> list[Any]:
        # Poison queues are small; take them whole (bounded) so the message can be found by id.
        return [
            message
            async for message in client.receive_messages(
                messages_per_page=32, visibility_timeout=30, max_messages=limit
            )
        ]

    async def results(self, top: int = 100) -> dict[str, Any]:
        """Up to `top` rows of the results table: {"table", "exists", "rows"}."""
        if not self.results_table:
            return {"table": None, "exists": False, "rows": []}
        table = self._table_service().get_table_client(self.results_table)

        async def rows() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            async for entity in table.list_entities(results_per_page=min(top, 1000)):
                found.append(_entity_json(entity))
                if len(found) >= top:
                    break
            return found

        try:
            return {"table": self.results_table, "exists": True, "rows": await self._call(rows())}
        except ResourceNotFoundError:
            return {"table": self.results_table, "exists": False, "rows": []}
