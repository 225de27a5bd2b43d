"""QueueListener in process (the app in a real worker process) against a real Azurite: outages logged once,
polling resumes, functionTimeout fails the invocation."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.app.index import FunctionIndex, build_index
from devhost.bindings.runtime import BindingRuntime
from devhost.bindings.storage import StorageClients
from devhost.config import QueueOptions
from devhost.triggers.invoke import InvocationFailed, Invoker, TriggerInput
from devhost.triggers.queue import QueueListener
from devhost.workers.pool import PoolSettings, WorkerPool
from devhost.workers.process import WorkerSpec
from tests.support.apps import APPS_DIR
from tests.support.azurite import Azurite, start_azurite
from tests.support.storage import queue_client, send, unique_name
from tests.support.waiting import wait_until_async

pytestmark = [pytest.mark.azurite]


@asynccontextmanager
async def listener_app(
    monkeypatch: pytest.MonkeyPatch, connection: str, seen: Path, function_timeout: timedelta | None = None
) -> AsyncIterator[tuple[FunctionIndex, WorkerPool]]:
    """tests/apps/listener_app in a worker, its collect function reading a fresh queue into the file seen."""
    queue_name = unique_name("listener-")
    for name, value in {
        "AzureWebJobsStorage": connection,
        "LISTENER_QUEUE": queue_name,
        "LISTENER_SEEN": str(seen),
    }.items():
        monkeypatch.setenv(name, value)
    pool = WorkerPool(WorkerSpec(APPS_DIR / "listener_app"), PoolSettings(function_timeout=function_timeout))
    try:
        index = build_index(await pool.start(), dict(os.environ))
        yield index, pool
    finally:
        await pool.stop()


@pytest.mark.slow
async def test_outage_is_logged_once_and_polling_resumes(
    own_azurite: Azurite, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    caplog.set_level(logging.INFO, logger="devhost.triggers.queue")
    seen = tmp_path / "seen.txt"
    clients = StorageClients()
    options = QueueOptions(max_polling_interval=timedelta(milliseconds=200))
    async with listener_app(monkeypatch, own_azurite.connection_string, seen) as (index, pool):
        function = index.get("collect")
        assert function is not None
        queue_name = str(function.trigger.get("queueName"))
        invoker = Invoker(BindingRuntime(clients), pool)
        listener = QueueListener(function, invoker, clients, options)
        task = asyncio.create_task(listener.run())
        try:
            send(queue_client(own_azurite.connection_string, queue_name), "before")
            await wait_until_async(lambda: _has(seen, "before"), 10, "the first message")
            own_azurite.stop()
            # Polls every 200 ms fail for ~2 s, yet the outage is reported once.
            await asyncio.sleep(2)
            warnings = [r for r in caplog.records if "storage unavailable" in r.getMessage()]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert task.done() is False
            restarted = start_azurite(
                location=own_azurite.location,
                blob_port=own_azurite.blob_port,
                queue_port=own_azurite.queue_port,
                table_port=own_azurite.table_port,
            )
            try:
                send(queue_client(restarted.connection_string, queue_name), "after")
                await wait_until_async(lambda: _has(seen, "after"), 15, "the message sent after the outage")
                assert any("reachable again" in r.getMessage() for r in caplog.records)
            finally:
                listener.stop()
                await asyncio.wait_for(task, 10)
                restarted.stop()
        finally:
            listener.stop()
            if not task.done():
                task.cancel()
            await clients.close()


async def _has(seen: Path, text: str) -> bool:
    return await asyncio.to_thread(lambda: seen.exists() and text in seen.read_text().split())


async def test_function_timeout_fails_the_invocation(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clients = StorageClients()
    async with listener_app(monkeypatch, azurite.connection_string, tmp_path / "seen", timedelta(seconds=1)) as (
        index,
        pool,
    ):
        function = index.get("slow")
        assert function is not None
        invoker = Invoker(BindingRuntime(clients), pool)
        message = {"id": "m1", "body": "eA==", "dequeue_count": 1}
        with pytest.raises(InvocationFailed) as failure:
            await invoker.invoke(function, TriggerInput(message, {}, "test"))
        # The worker that ran it was replaced: the pool answers again.
        await wait_until_async(lambda: _restarted(pool), 15, "the worker to be replaced")
    await clients.close()
    assert "Timeout value of 00:00:01 exceeded by function 'Functions.slow' (Id: '" in str(failure.value)
    assert str(failure.value).endswith("Initiating cancellation.")


async def _restarted(pool: WorkerPool) -> bool:
    return pool.restarts == 1 and len(pool.pids()) == 1
