"""The SDK client's starts and status reads answered in process: the same answers as the RPC routes, no socket."""

from __future__ import annotations

import importlib
import uuid

import aiohttp
import azure.durable_functions as df
import pytest

from devhost.durable.client_binding import build_client_binding
from devhost.durable.models import RuntimeStatus
from devhost.management import RPC_PREFIX
from devhost.management.in_process import serve_in_process
from tests.integration.management.conftest import TASK_HUB, Stack
from tests.support.ports import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _sdk_request_functions() -> tuple[object, object]:
    module = importlib.import_module("azure.durable_functions.models.DurableOrchestrationClient")
    return module.get_async_request, module.post_async_request


async def test_starts_and_status_reads_need_no_socket(stack: Stack) -> None:
    # An RPC URL on a port nothing listens on: whatever is not answered in process fails to connect.
    closed_rpc_url = f"http://127.0.0.1:{free_port()}{RPC_PREFIX}/"
    binding = build_client_binding(stack.public, closed_rpc_url, TASK_HUB)
    stop = serve_in_process(closed_rpc_url, stack.engine, TASK_HUB)
    try:
        client = df.DurableOrchestrationClient(binding)
        done = await client.start_new("hello_sequence", unique("local"), ["Oslo"])
        await stack.wait_until(done, RuntimeStatus.COMPLETED)
        status = await client.get_status(done)
        assert status.runtime_status is not None and status.runtime_status.value == "Completed"
        assert status.output == ["Hello Oslo!"]
        assert not await client.get_status(unique("nope"))
        waiting = await client.start_new("wait_for_approval")
        await stack.wait_custom_status(waiting, "waiting")
        # Everything else still goes over HTTP, which this port refuses.
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.terminate(waiting, "cleanup")
    finally:
        stop()
    await stack.engine.terminate(waiting, "cleanup")


async def test_in_process_answers_are_the_rpc_routes_answers(stack: Stack) -> None:
    over_http = df.DurableOrchestrationClient(stack.binding())  # built before serving: it keeps HTTP
    stop = serve_in_process(stack.rpc + "/", stack.engine, TASK_HUB)
    try:
        local = df.DurableOrchestrationClient(stack.binding())
        done = await local.start_new("hello_sequence", unique("same"), ["Lima", "Quito"])
        await stack.wait_until(done, RuntimeStatus.COMPLETED)
        waiting = await local.start_new("wait_for_approval", unique("same"))
        await stack.wait_custom_status(waiting, "waiting")
        for instance_id in (done, waiting):
            for flags in ({}, {"show_history": True, "show_history_output": True}, {"show_input": False}):
                ours = await local.get_status(instance_id, **flags)
                theirs = await over_http.get_status(instance_id, **flags)
                assert ours.to_json() == theirs.to_json()
                assert ours.history == theirs.history
        missing = unique("nope")
        ours_missing, theirs_missing = await local.get_status(missing), await over_http.get_status(missing)
        assert not ours_missing and not theirs_missing
        assert ours_missing.instance_id is None and theirs_missing.instance_id is None

        # Refusals carry the same messages: unknown orchestrator, running duplicate, malformed instance id.
        for name, instance_id in (("not_an_orchestrator", None), ("wait_for_approval", waiting), ("echo", "x" * 300)):
            with pytest.raises(Exception) as ours_raised:
                await local.start_new(name, instance_id)
            with pytest.raises(Exception) as theirs_raised:
                await over_http.start_new(name, instance_id)
            assert str(ours_raised.value) == str(theirs_raised.value)
    finally:
        stop()
    await stack.engine.terminate(waiting, "cleanup")


async def test_stopping_the_last_mount_gives_the_sdk_its_functions_back(stack: Stack) -> None:
    before = _sdk_request_functions()
    stop_one = serve_in_process(stack.rpc + "/", stack.engine, TASK_HUB)
    stop_two = serve_in_process(f"http://127.0.0.1:{free_port()}{RPC_PREFIX}/", stack.engine, TASK_HUB)
    assert _sdk_request_functions() != before
    stop_one()
    assert _sdk_request_functions() != before
    stop_two()
    assert _sdk_request_functions() == before
