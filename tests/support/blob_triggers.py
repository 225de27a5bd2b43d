"""Blob trigger listeners of tests/apps/blob_app running in process (the app in a real worker process), for
tests of what the dashboard shows about them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient

from devhost.app.index import build_index
from devhost.bindings.runtime import BindingRuntime
from devhost.bindings.storage import StorageClients
from devhost.config import QueueOptions
from devhost.triggers.blob import BlobTriggerListener
from devhost.triggers.blob_receipts import ReceiptStore
from devhost.triggers.invoke import Invoker
from devhost.workers.pool import PoolSettings, WorkerPool
from devhost.workers.process import WorkerSpec
from tests.support.apps import APPS_DIR
from tests.support.azurite import Azurite


@dataclass
class BlobApp:
    """The running listeners of process_upload and always_fails, and their containers."""

    listeners: list[BlobTriggerListener]
    #: BLOB_INPUT, BLOB_OUTPUT, BLOB_PATTERN and BLOB_FAILING -> container name.
    containers: dict[str, str]


@asynccontextmanager
async def running_blob_app(
    azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, max_dequeue_count: int = 2
) -> AsyncIterator[BlobApp]:
    """Listeners of blob_app's process_upload and always_fails on fresh containers (created), running until
    the block ends; upload to BLOB_INPUT and BLOB_FAILING to make them work."""
    suffix = uuid.uuid4().hex[:8]
    containers = {
        "BLOB_INPUT": f"tb-in-{suffix}",
        "BLOB_OUTPUT": f"tb-out-{suffix}",
        "BLOB_PATTERN": f"tb-pattern-{suffix}",
        "BLOB_FAILING": f"tb-fail-{suffix}",
    }
    env = {**containers, "BLOB_SEEN": str(tmp_path / "seen.tsv"), "AzureWebJobsStorage": azurite.connection_string}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
        for key in ("BLOB_INPUT", "BLOB_FAILING"):
            await blobs.create_container(containers[key])
    pool = WorkerPool(WorkerSpec(APPS_DIR / "blob_app"), PoolSettings())
    clients = StorageClients()
    receipts = ReceiptStore.open(tmp_path)
    listeners: list[BlobTriggerListener] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        index = build_index(await pool.start(), dict(os.environ))
        invoker = Invoker(BindingRuntime(clients), pool)
        options = QueueOptions(max_dequeue_count=max_dequeue_count)
        for name in ("process_upload", "always_fails"):
            function = index.get(name)
            assert function is not None
            listeners.append(BlobTriggerListener(function, invoker, clients, options, receipts))
        tasks = [asyncio.create_task(listener.run(), name=f"blob:{listener.function.name}") for listener in listeners]
        yield BlobApp(listeners, containers)
    finally:
        for listener in listeners:
            listener.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.stop()
        await receipts.close()
        await clients.close()


async def upload(azurite: Azurite, container: str, name: str, data: bytes) -> None:
    """Upload (overwrite) one blob."""
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
        await blobs.get_blob_client(container, name).upload_blob(data, overwrite=True)
