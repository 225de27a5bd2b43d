"""Queue triggers with the host.json extensions.queues semantics (batches, retries, poison queue, backoff)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage as StorageMessage
from azure.storage.queue.aio import QueueClient

from devhost.app.index import IndexedFunction
from devhost.bindings.expressions import json_properties
from devhost.bindings.queue_messages import QueueMessages
from devhost.bindings.queue_output import decode_message
from devhost.bindings.storage import StorageClients
from devhost.config import QueueOptions
from devhost.errors import AppLoadError, ConfigError
from devhost.triggers.invoke import InvocationFailed, Invoker, TriggerInput
from devhost.triggers.outage import OutageLog

log = logging.getLogger(__name__)

_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
#: How long a received message stays invisible while its function runs; the lease is renewed every third
#: of it, so a long invocation keeps its message while one of a crashed (kill -9) host comes back quickly.
PROCESSING_VISIBILITY_S = 30
#: App setting overriding that lease, in seconds (tests and fault drills shorten it).
LEASE_SETTING = "DEVHOST_QUEUE_LEASE_SECONDS"
#: Shortest wait between polls of an empty queue; doubles up to maxPollingInterval. Short, so that a
#: message arriving just after the queue ran empty is picked up within tens of milliseconds; the
#: doubling reaches maxPollingInterval after a few empty polls, so an idle queue costs no more.
MIN_POLL_S = 0.02


def poison_queue_name(queue_name: str) -> str:
    """Where messages go after maxDequeueCount failures."""
    return f"{queue_name}-poison"


def lease_seconds(environ: dict[str, str] | None = None) -> int:
    """The message lease from DEVHOST_QUEUE_LEASE_SECONDS (3 to 3600), or PROCESSING_VISIBILITY_S."""
    text = (os.environ if environ is None else environ).get(LEASE_SETTING, "").strip()
    if not text:
        return PROCESSING_VISIBILITY_S
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 3 <= value <= 3600:
        raise ConfigError(f"{LEASE_SETTING} must be a whole number of seconds from 3 to 3600, got {text!r}")
    return value


def message_data(body: bytes, message: StorageMessage) -> dict[str, Any]:
    """The queueTrigger's data for the worker (it builds func.QueueMessage, or str/bytes by annotation)."""
    return {
        "id": message.id,
        "body": base64.b64encode(body).decode("ascii"),
        "dequeue_count": message.dequeue_count,
        "expiration_time": _iso(message.expires_on),
        "insertion_time": _iso(message.inserted_on),
        "time_next_visible": _iso(message.next_visible_on),
        "pop_receipt": message.pop_receipt,
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def trigger_data(body: bytes, message: StorageMessage) -> dict[str, Any]:
    """Binding data: JSON properties of the message plus QueueTrigger, Id, DequeueCount and the times."""
    data: dict[str, Any] = json_properties(body)
    data.update(
        {
            "QueueTrigger": body.decode("utf-8", errors="replace"),
            "Id": message.id,
            "DequeueCount": message.dequeue_count,
            "InsertionTime": message.inserted_on,
            "ExpirationTime": message.expires_on,
            "NextVisibleTime": message.next_visible_on,
            "PopReceipt": message.pop_receipt,
        }
    )
    return data


class QueueListener:
    """Polls one queue for one function; run() until stop() is called or the task is cancelled."""

    def __init__(
        self,
        function: IndexedFunction,
        invoker: Invoker,
        clients: StorageClients,
        options: QueueOptions,
    ) -> None:
        trigger = function.trigger
        self.function = function
        self.queue_name = str(trigger.get("queueName"))
        if not _QUEUE_NAME.match(self.queue_name):
            raise AppLoadError(
                f"function {function.name!r}: {self.queue_name!r} is not a valid queue name; use 3-63 lower-case "
                "letters, digits and single hyphens"
            )
        assert trigger.connection_string is not None
        self.client: QueueClient = clients.queue(trigger.connection_string, self.queue_name)
        self.messages: QueueMessages = clients.queue_messages(trigger.connection_string, self.queue_name)
        self.poison_client: QueueClient = clients.queue(trigger.connection_string, poison_queue_name(self.queue_name))
        self.invoker = invoker
        self.options = options
        self._stopping = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._in_flight = 0
        self._outage = OutageLog(log, f"Queue '{self.queue_name}'", "retrying every few seconds")
        self._lease_s = lease_seconds()

    def stop(self) -> None:
        """Stop fetching; run() returns once the messages in flight are done."""
        self._stopping.set()

    async def run(self) -> None:
        """Poll and process until stopped; the message tasks live in this method's TaskGroup."""
        async with asyncio.TaskGroup() as group:
            await self._poll(group)

    async def _poll(self, group: asyncio.TaskGroup) -> None:
        delay = MIN_POLL_S
        max_delay = self.options.max_polling_interval.total_seconds()
        while not self._stopping.is_set():
            if self._in_flight > self.options.new_batch_threshold:
                self._slot_free.clear()
                await self._wait(self._slot_free, None)
                continue
            try:
                messages = await self._receive()
                self._outage.succeeded()
            except AzureError as exc:
                self._outage.failed(exc)
                await self._wait(self._stopping, max_delay)
                continue
            if messages:
                delay = MIN_POLL_S
                for message in messages:
                    self._in_flight += 1
                    group.create_task(self._process(message), name=f"queue {self.queue_name} message {message.id}")
                continue
            await self._wait(self._stopping, delay)
            delay = min(delay * 2, max_delay)

    async def _wait(self, event: asyncio.Event, limit_s: float | None) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        other = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({stop, other}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            other.cancel()

    async def _receive(self) -> list[StorageMessage]:
        try:
            return await self.messages.receive(self.options.batch_size, self._lease_s)
        except ResourceNotFoundError:
            await _create_queue(self.client)
            return []

    async def _process(self, message: StorageMessage) -> None:
        slot = [True]
        try:
            await self._handle(message, slot)
        except AzureError as exc:
            self._outage.failed(exc)
        except Exception:
            log.exception("Queue '%s': unexpected error handling message %s", self.queue_name, message.id)
        finally:
            self._free_slot(slot)

    def _free_slot(self, slot: list[bool]) -> None:
        """Count the message out of the in-flight total (once), letting the poller fetch more."""
        if slot[0]:
            slot[0] = False
            self._in_flight -= 1
            self._slot_free.set()

    async def _handle(self, message: StorageMessage, slot: list[bool]) -> None:
        max_count = self.options.max_dequeue_count
        if message.dequeue_count is not None and message.dequeue_count > max_count:
            await self._poison(
                message, f"its dequeue count {message.dequeue_count} exceeds maxDequeueCount {max_count}"
            )
            return
        try:
            body = decode_message(str(message.content), self.options.message_encoding)
        except ValueError as exc:
            await self._poison(message, f'{exc} and host.json extensions.queues.messageEncoding is "base64"')
            return
        trigger = TriggerInput(
            data=message_data(body, message),
            binding_data=trigger_data(body, message),
            reason=f"New queue message detected on '{self.queue_name}'.",
        )
        try:
            async with self._leased(message):
                await self.invoker.invoke(self.function, trigger)
        except InvocationFailed:
            if (message.dequeue_count or 0) >= max_count:
                await self._poison(message, f"it has reached maxDequeueCount of {max_count}")
            else:
                await self.messages.update_visibility(message, int(self.options.visibility_timeout.total_seconds()))
            return
        except asyncio.CancelledError:
            # Shutting down mid-invocation: make the message visible again rather than waiting out the lease.
            await asyncio.shield(self._release(message))
            raise
        # The function is done: its slot goes to the next message while the delete is in flight
        # (the delete still completes before this task ends; if it is lost, the message comes back).
        self._free_slot(slot)
        await self.messages.delete(message)

    @contextlib.asynccontextmanager
    async def _leased(self, message: StorageMessage) -> AsyncIterator[None]:
        """Keep the message invisible while the block runs (its pop receipt is updated in place)."""
        done = asyncio.Event()
        renewal = asyncio.create_task(self._keep_leased(message, done), name=f"lease {message.id}")
        try:
            yield
        finally:
            done.set()
            # Awaited, not cancelled: a renewal in flight must hand back its new pop receipt for the delete.
            await asyncio.gather(renewal, return_exceptions=True)

    async def _keep_leased(self, message: StorageMessage, done: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self._lease_s / 3)
                return
            try:
                await self.messages.update_visibility(message, self._lease_s)
            except AzureError as exc:
                self._outage.failed(exc)

    async def _release(self, message: StorageMessage) -> None:
        with contextlib.suppress(AzureError):
            await self.messages.update_visibility(message, 0)

    async def _poison(self, message: StorageMessage, reason: str) -> None:
        poison = poison_queue_name(self.queue_name)
        log.warning(
            "Message %s on queue '%s' moved to poison queue '%s' because %s.",
            message.id,
            self.queue_name,
            poison,
            reason,
        )
        try:
            await self.poison_client.send_message(message.content)
        except ResourceNotFoundError:
            await _create_queue(self.poison_client)
            await self.poison_client.send_message(message.content)
        await self.messages.delete(message)


async def _create_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        await client.create_queue()
