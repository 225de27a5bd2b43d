"""The queue trigger's three storage calls per message: receive, delete, and update visibility (a lease).

A queue trigger makes these calls for every message, so their cost bounds how many messages a host
handles per second. Through the azure-storage-queue async client one delete cost ~0.95 ms of CPU in the
host against Azurite, and a burst of queued starts (W5 in bench/README.md) spent ~38 % of the host's
event loop in the SDK's pipeline; the same request made directly costs ~0.24 ms. So where the connection
string has an account key, ``KeyedQueueMessages`` makes these three REST calls itself (Queue service
REST API: Get Messages, Delete Message, Update Message, signed with Shared Key). Everything else (sending,
creating queues, the poison queue) and connection strings without a key (SAS) go through the SDK, as do
these calls there (``SdkQueueMessages``). Errors are raised as the SDK raises them (azure.core.exceptions),
so callers handle both the same way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import xml.etree.ElementTree as ElementTree
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

#: Statuses worth another try (as the SDK's retry policy treats them), and the waits before each retry.
_RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})
_RETRY_WAITS_S = (1.0, 2.0)


class QueueMessages(Protocol):
    """Receive, delete and lease messages of one queue."""

    async def receive(self, count: int, visibility_timeout_s: int) -> list[QueueMessage]:
        """Up to count messages, invisible for visibility_timeout_s (no retries: the poller backs off)."""
        ...

    async def delete(self, message: QueueMessage) -> None:
        """Delete a received message (its current pop receipt)."""
        ...

    async def update_visibility(self, message: QueueMessage, visibility_timeout_s: int) -> None:
        """Make the message visible again in visibility_timeout_s; its pop receipt and next visible time
        are updated in place."""
        ...


class SdkQueueMessages:
    """QueueMessages through the SDK's clients (connection strings without an account key)."""

    def __init__(self, client: QueueClient, polling_client: QueueClient) -> None:
        self.client = client
        self.polling_client = polling_client

    async def receive(self, count: int, visibility_timeout_s: int) -> list[QueueMessage]:
        pages = self.polling_client.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=visibility_timeout_s
        )
        return [message async for message in pages]

    async def delete(self, message: QueueMessage) -> None:
        await self.client.delete_message(message, pop_receipt=message.pop_receipt)

    async def update_visibility(self, message: QueueMessage, visibility_timeout_s: int) -> None:
        updated = await self.client.update_message(
            message, pop_receipt=message.pop_receipt, visibility_timeout=visibility_timeout_s
        )
        message.pop_receipt = updated.pop_receipt
        message.next_visible_on = updated.next_visible_on


class KeyedQueueMessages:
    """QueueMessages as direct REST calls signed with the account key (Shared Key authorization)."""

    def __init__(self, session: aiohttp.ClientSession, queue_url: str, account: str, key: str, version: str) -> None:
        self.session = session
        self.messages_url = queue_url.rstrip("/") + "/messages"
        self._path = urlsplit(self.messages_url).path
        self._account = account
        self._key = base64.b64decode(key)
        self._version = version

    @classmethod
    def for_client(cls, session: aiohttp.ClientSession, client: QueueClient) -> KeyedQueueMessages | None:
        """One for the SDK client's queue, account and API version; None when it authenticates otherwise."""
        key = getattr(client.credential, "account_key", None)
        if not isinstance(key, str) or urlsplit(client.url).query:
            return None
        return cls(session, client.url, client.account_name or "", key, client.api_version)

    async def receive(self, count: int, visibility_timeout_s: int) -> list[QueueMessage]:
        query = {"numofmessages": str(count), "visibilitytimeout": str(visibility_timeout_s)}
        _, body = await self._call("GET", "", query, retry=False)
        return [_message(element) for element in ElementTree.fromstring(body).iter("QueueMessage")]

    async def delete(self, message: QueueMessage) -> None:
        await self._call("DELETE", f"/{message.id}", {"popreceipt": str(message.pop_receipt)})

    async def update_visibility(self, message: QueueMessage, visibility_timeout_s: int) -> None:
        query = {"popreceipt": str(message.pop_receipt), "visibilitytimeout": str(visibility_timeout_s)}
        headers, _ = await self._call("PUT", f"/{message.id}", query)
        message.pop_receipt = headers.get("x-ms-popreceipt", message.pop_receipt)
        visible = headers.get("x-ms-time-next-visible")
        if visible:
            message.next_visible_on = parsedate_to_datetime(visible)

    async def _call(
        self, method: str, suffix: str, query: dict[str, str], retry: bool = True
    ) -> tuple[dict[str, str], bytes]:
        waits = _RETRY_WAITS_S if retry else ()
        for attempt in range(len(waits) + 1):
            last = attempt == len(waits)
            try:
                return await self._request(method, suffix, query)
            except ServiceRequestError:
                if last:
                    raise
            except _Transient as exc:
                if last:
                    raise exc.error from None
            await asyncio.sleep(waits[attempt])
        raise AssertionError("unreachable")

    async def _request(self, method: str, suffix: str, query: dict[str, str]) -> tuple[dict[str, str], bytes]:
        date = formatdate(usegmt=True)
        # aiohttp would add application/octet-stream to a PUT; the header is signed, so it is set here.
        content_type = "application/xml" if method == "PUT" else ""
        headers = {
            "x-ms-date": date,
            "x-ms-version": self._version,
            "Authorization": f"SharedKey {self._account}:{self._signature(method, suffix, query, date, content_type)}",
        }
        if content_type:
            headers["Content-Type"] = content_type
        try:
            async with self.session.request(
                method, self.messages_url + suffix, params=query, headers=headers
            ) as response:
                body = await response.read()
                if response.status < 300:
                    return dict(response.headers), body
                raise _error(method, response.status, response.headers.get("x-ms-error-code"), body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceRequestError(f"{method} {self.messages_url + suffix}: {exc or type(exc).__name__}") from exc

    def _signature(self, method: str, suffix: str, query: dict[str, str], date: str, content_type: str) -> str:
        # Shared Key for the Queue service: the verb, eleven standard headers (Content-Type the only one
        # set; a zero Content-Length is signed as empty), the x-ms- headers, then the account and path and
        # the query parameters sorted by name.
        resource = f"/{self._account}{self._path}{suffix}" + "".join(f"\n{k}:{query[k]}" for k in sorted(query))
        standard = "\n\n\n\n" + content_type + "\n" * 7
        text = f"{method}\n{standard}x-ms-date:{date}\nx-ms-version:{self._version}\n" + resource
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")


class _Transient(Exception):
    """A response worth another try; error is what to raise when the tries run out."""

    def __init__(self, error: HttpResponseError) -> None:
        super().__init__(str(error))
        self.error = error


def _error(method: str, status: int, code: str | None, body: bytes) -> Exception:
    message = f"{method} failed with {status} {code or ''}: {body.decode('utf-8', errors='replace')[:300]}"
    if status == 404:
        return ResourceNotFoundError(message=message)
    if status == 403:
        return ClientAuthenticationError(message=message)
    error = HttpResponseError(message=message)
    error.status_code = status
    return _Transient(error) if status in _RETRY_STATUSES else error


def _message(element: ElementTree.Element) -> QueueMessage:
    def text(name: str) -> str | None:
        found = element.find(name)
        return found.text if found is not None else None

    def moment(name: str) -> Any:
        value = text(name)
        return parsedate_to_datetime(value) if value else None

    message = QueueMessage(content=text("MessageText") or "")
    message.id = text("MessageId") or ""
    message.inserted_on = moment("InsertionTime")
    message.expires_on = moment("ExpirationTime")
    message.next_visible_on = moment("TimeNextVisible")
    message.pop_receipt = text("PopReceipt")
    message.dequeue_count = int(text("DequeueCount") or 0)
    return message
