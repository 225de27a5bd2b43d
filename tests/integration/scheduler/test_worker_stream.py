"""The worker's stream in process, over real gRPC: health pings on an idle stream, abandon and disconnect giving
work back under a new token, and a worker that waits for work nobody could run before it connected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions
from devhost.durable.protocol import EventType
from devhost.scheduler.dispatch import WorkDispatcher
from devhost.scheduler.server import SchedulerEndpoint
from devhost.scheduler.servicer import TaskHub

HUB = (("taskhub", "default"),)


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[tuple[SchedulerEndpoint, DurableEngine]]:
    dispatcher = WorkDispatcher("default")
    engine = DurableEngine.open(tmp_path, DurableFunctions(runner=dispatcher, open_names=True), EngineOptions())
    dispatcher.bind(engine.get_history, engine.unpark)
    await engine.start()
    server = SchedulerEndpoint([TaskHub("default", engine, dispatcher)], "127.0.0.1", 0, None, ping_seconds=0.2)
    await server.start()
    try:
        yield server, engine
    finally:
        await server.stop()
        await engine.stop()


async def _next_work(stream: grpc.aio.UnaryStreamCall) -> pb.WorkItem:
    while True:
        item = await stream.read()
        assert item is not grpc.aio.EOF, "the stream ended"
        if not item.HasField("healthPing"):
            return item


async def test_an_idle_stream_gets_health_pings(endpoint: tuple[SchedulerEndpoint, DurableEngine]):
    server, _ = endpoint
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stream = stubs.TaskHubSidecarServiceStub(channel).GetWorkItems(pb.GetWorkItemsRequest(), metadata=HUB)
        first = await asyncio.wait_for(stream.read(), 5)
        second = await asyncio.wait_for(stream.read(), 5)
        assert first.HasField("healthPing") and second.HasField("healthPing")
        stream.cancel()


async def test_abandoned_and_disconnected_work_comes_back_under_a_new_token(
    endpoint: tuple[SchedulerEndpoint, DurableEngine],
):
    server, engine = endpoint
    # Started before any worker is connected: it waits (parked in the engine, no slot held).
    instance_id = await engine.start_orchestration("grpc_only", "abandon-me", '"x"', exact_input=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        first = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=HUB)
        item = await asyncio.wait_for(_next_work(first), 10)
        assert item.orchestratorRequest.instanceId == instance_id
        assert [e.WhichOneof("eventType") for e in item.orchestratorRequest.newEvents] == [
            "orchestratorStarted",
            "executionStarted",
        ]
        await stub.AbandonTaskOrchestratorWorkItem(
            pb.AbandonOrchestrationTaskRequest(completionToken=item.completionToken), metadata=HUB
        )
        again = await asyncio.wait_for(_next_work(first), 10)
        assert again.orchestratorRequest.instanceId == instance_id
        assert again.completionToken != item.completionToken
        second = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=HUB)
        await asyncio.wait_for(second.read(), 5)  # connected (a ping)
        first.cancel()  # the holder goes away: its item goes to the other worker
        moved = await asyncio.wait_for(_next_work(second), 10)
        assert moved.orchestratorRequest.instanceId == instance_id
        with pytest.raises(grpc.aio.AioRpcError) as stale:
            await stub.CompleteOrchestratorTask(
                pb.OrchestratorResponse(instanceId=instance_id, completionToken=again.completionToken), metadata=HUB
            )
        assert stale.value.code() == grpc.StatusCode.NOT_FOUND
        second.cancel()
    record = await engine.get_instance(instance_id)
    assert record is not None and record.runtime_status.value == "Pending"


def _schedule(task_id: int, name: str) -> pb.OrchestratorAction:
    return pb.OrchestratorAction(id=task_id, scheduleTask=pb.ScheduleTaskAction(name=name))


async def test_a_chunked_orchestrator_response_is_joined_in_chunk_order(
    endpoint: tuple[SchedulerEndpoint, DurableEngine],
):
    """SDKs split a completion too big for one message into chunks (isPartial, chunkIndex from 0): the episode
    is the chunks' actions in order, recorded once the last chunk arrives; a chunk out of order is refused."""
    server, engine = endpoint
    instance_id = await engine.start_orchestration("chunky", "chunked", None, exact_input=True)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=HUB)
        item = await asyncio.wait_for(_next_work(stream), 10)
        token = item.completionToken

        def chunk(index: int, partial: bool, *actions: pb.OrchestratorAction) -> pb.OrchestratorResponse:
            response = pb.OrchestratorResponse(
                instanceId=instance_id, completionToken=token, actions=actions, isPartial=partial
            )
            response.chunkIndex.value = index
            return response

        await stub.CompleteOrchestratorTask(chunk(0, True, _schedule(1, "first"), _schedule(2, "second")), metadata=HUB)
        with pytest.raises(grpc.aio.AioRpcError) as skipped:
            await stub.CompleteOrchestratorTask(chunk(2, False, _schedule(3, "third")), metadata=HUB)
        assert skipped.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "chunk 2 for instance 'chunked' arrived, chunk 1 was expected next" in (skipped.value.details() or "")
        assert [
            e for e in await engine.get_history(instance_id) if e["EventType"] == EventType.TASK_SCHEDULED
        ] == []  # nothing recorded yet
        await stub.CompleteOrchestratorTask(chunk(1, False, _schedule(3, "third")), metadata=HUB)
        # Its three activities come out, in order, and the token is used up.
        names = [(await asyncio.wait_for(_next_work(stream), 10)).activityRequest.name for _ in range(3)]
        assert names == ["first", "second", "third"]
        with pytest.raises(grpc.aio.AioRpcError) as used:
            await stub.CompleteOrchestratorTask(chunk(2, False), metadata=HUB)
        assert used.value.code() == grpc.StatusCode.NOT_FOUND
        stream.cancel()
    scheduled = [e["Name"] for e in await engine.get_history(instance_id) if e["EventType"] == EventType.TASK_SCHEDULED]
    assert scheduled == ["first", "second", "third"]
