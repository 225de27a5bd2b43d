"""Storage connections: connection strings (UseDevelopmentStorage=true included) and shared async clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.bindings.queue_messages import KeyedQueueMessages, QueueMessages, SdkQueueMessages
from devhost.net import is_loopback_host

# Azurite's well-known development account (public, documented by Microsoft).
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}

# The SDKs' default retries back off for 15 s and more, which stalls an invocation (and hides an outage from
# the log for minutes); a couple of quick retries suit a local emulator. Queue polling retries not at all:
# the listener's own backoff takes over.
_STORAGE_RETRY: dict[str, Any] = {"retry_total": 2, "initial_backoff": 1, "increment_base": 2, "connection_timeout": 5}
_TABLE_RETRY: dict[str, Any] = {"retry_total": 2, "retry_backoff_factor": 0.5, "connection_timeout": 5}
_POLL_RETRY: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5}


def client_options(connection_string: str, options: dict[str, Any]) -> dict[str, Any]:
    """SDK client options for a connection string: for storage on loopback, environment proxies are off.

    The SDKs' aiohttp transport otherwise looks up proxy variables and reads ~/.netrc (in a thread) on
    every request, a large share of a request's cost against a local emulator; and a proxy set for the
    internet would only break loopback traffic.
    """
    if is_loopback_storage(connection_string):
        return {**options, "use_env_settings": False}
    return options


def is_loopback_storage(connection_string: str) -> bool:
    """True when every endpoint of the (expanded) connection string is on a loopback address."""
    hosts = [urlsplit(value).hostname for key, value in _parse(connection_string).items() if key.endswith("endpoint")]
    return bool(hosts) and all(host is not None and is_loopback_host(host) for host in hosts)


def is_development_storage(connection_string: str) -> bool:
    """True for the "UseDevelopmentStorage=true" shorthand."""
    parts = _parse(connection_string)
    return parts.get("usedevelopmentstorage", "").lower() == "true"


def expand_connection_string(connection_string: str) -> str:
    """Turn "UseDevelopmentStorage=true" into Azurite's explicit default endpoints; others are returned as is."""
    if not is_development_storage(connection_string):
        return connection_string
    proxy = _parse(connection_string).get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
    endpoints = ";".join(
        f"{kind.capitalize()}Endpoint={proxy}:{port}/{DEV_ACCOUNT}" for kind, port in DEV_PORTS.items()
    )
    return f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};{endpoints};"


def _parse(connection_string: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    return parts


class StorageClients:
    """Async service clients per connection string, shared by every binding and trigger; close() once."""

    def __init__(self) -> None:
        self._queues: dict[str, QueueServiceClient] = {}
        self._polling: dict[str, QueueServiceClient] = {}
        self._tables: dict[str, TableServiceClient] = {}
        self._blobs: dict[str, BlobServiceClient] = {}
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def queue_service(self, connection_string: str) -> QueueServiceClient:
        """The queue service client for a connection string."""
        key = expand_connection_string(connection_string)
        if key not in self._queues:
            self._queues[key] = QueueServiceClient.from_connection_string(key, **client_options(key, _STORAGE_RETRY))
        return self._queues[key]

    def queue(self, connection_string: str, queue_name: str) -> QueueClient:
        """A client for one queue (cheap; shares the service client's pipeline)."""
        return self.queue_service(connection_string).get_queue_client(queue_name)

    def polling_queue(self, connection_string: str, queue_name: str) -> QueueClient:
        """A client for polling one queue: no SDK retries, so an outage surfaces at once."""
        key = expand_connection_string(connection_string)
        if key not in self._polling:
            self._polling[key] = QueueServiceClient.from_connection_string(key, **client_options(key, _POLL_RETRY))
        return self._polling[key].get_queue_client(queue_name)

    def queue_messages(self, connection_string: str, queue_name: str) -> QueueMessages:
        """A queue trigger's receive, delete and lease calls: direct REST calls where the connection string
        has an account key (queue_messages.py says why), the SDK's clients otherwise."""
        client = self.queue(connection_string, queue_name)
        loopback = is_loopback_storage(expand_connection_string(connection_string))
        if loopback not in self._sessions:
            # No environment proxies on loopback, for the reason client_options gives.
            self._sessions[loopback] = aiohttp.ClientSession(
                trust_env=not loopback, timeout=aiohttp.ClientTimeout(total=60, connect=5)
            )
        keyed = KeyedQueueMessages.for_client(self._sessions[loopback], client)
        return keyed or SdkQueueMessages(client, self.polling_queue(connection_string, queue_name))

    def table_service(self, connection_string: str) -> TableServiceClient:
        """The table service client for a connection string."""
        key = expand_connection_string(connection_string)
        if key not in self._tables:
            self._tables[key] = TableServiceClient.from_connection_string(key, **client_options(key, _TABLE_RETRY))
        return self._tables[key]

    def blob_service(self, connection_string: str) -> BlobServiceClient:
        """The blob service client for a connection string."""
        key = expand_connection_string(connection_string)
        if key not in self._blobs:
            self._blobs[key] = BlobServiceClient.from_connection_string(key, **client_options(key, _STORAGE_RETRY))
        return self._blobs[key]

    async def close(self) -> None:
        """Close every client (their aiohttp sessions)."""
        clients: list[QueueServiceClient | TableServiceClient | BlobServiceClient] = [
            *self._queues.values(),
            *self._polling.values(),
            *self._tables.values(),
            *self._blobs.values(),
        ]
        self._queues.clear()
        self._polling.clear()
        self._tables.clear()
        self._blobs.clear()
        for client in clients:
            await client.close()
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()
