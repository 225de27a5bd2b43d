"""QueueListener in process against a real Azurite: outages logged once, polling resumes, backlogs reported."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import azure.functions as func
import pytest

from devhost.app.index import FunctionIndex, build_index
from devhost.app.invoke import InvocationFailed, Invoker, TriggerInput
from devhost.bindings.runtime import BindingRuntime
from devhost.bindings.storage import StorageClients
from devhost.config import QueueOptions
from devhost.durable.intake import IntakeBacklog
from devhost.triggers.queue import QueueListener
from tests.support.azurite import Azurite, start_azurite
from tests.support.storage import queue_client, send, unique_name
from tests.support.waiting import wait_until_async

pytestmark = [pytest.mark.azurite]


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite this test may stop and restart (the session one is shared)."""
    (tmp_path / "azurite").mkdir()
    instance = start_azurite(location=tmp_path / "azurite")
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(instance.location, ignore_errors=True)


def _index(queue_name: str, seen: list[str], connection: str) -> FunctionIndex:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name=queue_name, connection="AzureWebJobsStorage")
    def collect(msg: func.QueueMessage) -> None:
        seen.append(msg.get_body().decode())

    return build_index(app.get_functions(), {"AzureWebJobsStorage": connection}, Path("."))


@pytest.mark.slow
async def test_outage_is_logged_once_and_polling_resumes(own_azurite: Azurite, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="devhost.queue")
    queue_name = unique_name("outage-")
    seen: list[str] = []
    index = _index(queue_name, seen, own_azurite.connection_string)
    clients = StorageClients()
    options = QueueOptions(max_polling_interval=timedelta(milliseconds=200))
    with ThreadPoolExecutor(2) as executor:
        invoker = Invoker(BindingRuntime(clients), executor)
        listener = QueueListener(index.functions[0], invoker, clients, options)
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


async def _has(seen: list[str], text: str) -> bool:
    return text in seen


async def test_function_timeout_fails_the_invocation(azurite: Azurite):
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="never-polled", connection="AzureWebJobsStorage")
    async def slow(msg: func.QueueMessage) -> None:
        await asyncio.sleep(30)

    index = build_index(app.get_functions(), {"AzureWebJobsStorage": azurite.connection_string}, Path("."))
    clients = StorageClients()
    with ThreadPoolExecutor(1) as executor:
        invoker = Invoker(BindingRuntime(clients), executor, function_timeout=timedelta(milliseconds=200))
        with pytest.raises(InvocationFailed) as failure:
            await invoker.invoke(index.functions[0], TriggerInput(func.QueueMessage(body=b"x"), {}, "test"))
    await clients.close()
    assert "Timeout value of 0:00:00.200000 was exceeded by function: Functions.slow" in str(failure.value)


@pytest.mark.parametrize(("queued", "backlog"), [(10, True), (1, False)])
async def test_a_fetch_of_many_messages_reports_a_backlog(
    azurite: Azurite, caplog: pytest.LogCaptureFixture, queued: int, backlog: bool
):
    caplog.set_level(logging.INFO, logger="devhost.durable.intake")
    queue_name = unique_name("backlog-")
    client = queue_client(azurite.connection_string, queue_name)
    for n in range(queued):
        send(client, f"request {n}")
    seen: list[str] = []
    index = _index(queue_name, seen, azurite.connection_string)
    clients = StorageClients()
    frozen = 50.0  # the hold cannot run out while the test looks at it
    intake = IntakeBacklog(clock=lambda: frozen)
    # Batches of 16: a fetch of 4 or more messages is a backlog; the 10 queued ones come in one fetch.
    options = QueueOptions(batch_size=16, new_batch_threshold=8)
    with ThreadPoolExecutor(2) as executor:
        listener = QueueListener(
            index.functions[0], Invoker(BindingRuntime(clients), executor), clients, options, intake
        )
        task = asyncio.create_task(listener.run())
        try:
            await wait_until_async(lambda: _count(seen, queued), 15, f"the {queued} queued messages")
        finally:
            listener.stop()
            await task
            await clients.close()
    assert (intake.wait_s(frozen) > 0) is backlog
    reports = [r.getMessage() for r in caplog.records if "has a backlog" in r.getMessage()]
    assert reports == (
        [
            f"Queue '{queue_name}' has a backlog ({queued} messages in one fetch): activities wait up to "
            "10 s while its messages are started first"
        ]
        if backlog
        else []
    )


async def _count(seen: list[str], expected: int) -> bool:
    return len(seen) >= expected
