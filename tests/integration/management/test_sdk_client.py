"""The real SDK DurableOrchestrationClient, built from build_client_binding, against the RPC mount."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from devhost.durable.client_binding import build_client_binding
from devhost.durable.models import RuntimeStatus
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from tests.integration.management.conftest import TASK_HUB, Stack
from tests.integration.management.test_public_api import failed_again
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.asyncio(loop_scope="module")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client_for(stack: Stack) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(stack.binding())


async def test_binding_shape() -> None:
    binding = json.loads(
        build_client_binding(
            "http://localhost:7071/runtime/webhooks/durabletask", "http://127.0.0.1:7071/_rpc/durabletask", "Hub"
        )
    )
    assert binding["taskHubName"] == "Hub"
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/_rpc/durabletask/"
    urls = binding["managementUrls"]
    assert urls["id"] == "INSTANCEID"
    assert urls["statusQueryGetUri"] == (
        "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=Hub&connection=Storage"
    )
    assert all(isinstance(value, str) for value in urls.values())
    assert binding["creationUrls"]["createNewInstancePostUri"].startswith(
        "http://localhost:7071/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?"
    )
    # The SDK accepts it and fills in ids.
    client = df.DurableOrchestrationClient(json.dumps(binding))
    payload = client.create_http_management_payload("abc")
    assert payload["id"] == "abc"
    assert payload["terminatePostUri"].startswith(
        "http://localhost:7071/runtime/webhooks/durabletask/instances/abc/terminate?reason={text}&"
    )


async def test_start_new_and_get_status(stack: Stack) -> None:
    client = client_for(stack)
    first = await client.start_new("hello_sequence")
    second = await client.start_new("hello_sequence", unique("sdk"), ["Paris", "Rome"])
    await stack.wait_until(first, RuntimeStatus.COMPLETED)
    await stack.wait_until(second, RuntimeStatus.COMPLETED)

    status = await client.get_status(first)
    assert status
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert status.created_time is not None and status.last_updated_time is not None
    assert status.history is None

    status = await client.get_status(second, show_history=True, show_history_output=True, show_input=True)
    assert status.output == ["Hello Paris!", "Hello Rome!"]
    # Faithful to the extension: the SDK posts JSON text, so the status input is that text.
    assert json.loads(status.input_) == ["Paris", "Rome"]
    assert status.history is not None
    assert next(event["EventType"] for event in status.history) == "ExecutionStarted"
    assert any(event.get("Result") == "Hello Rome!" for event in status.history)
    assert status.to_json()["runtimeStatus"] == "Completed"

    missing = await client.get_status(unique("nope"))
    assert not missing


async def test_start_new_refusals_raise_with_message(stack: Stack) -> None:
    client = client_for(stack)
    with pytest.raises(Exception, match="not_an_orchestrator"):
        await client.start_new("not_an_orchestrator")
    instance_id = await client.start_new("wait_for_approval", unique("dup"))
    await stack.wait_custom_status(instance_id, "waiting")
    with pytest.raises(Exception) as raised:
        await client.start_new("wait_for_approval", instance_id)
    assert instance_id in str(raised.value) or "exist" in str(raised.value).lower()
    await client.terminate(instance_id, "cleanup")


async def test_get_status_all_and_by(stack: Stack) -> None:
    client = client_for(stack)
    since = datetime.now(UTC) - timedelta(seconds=1)
    prefix = unique("by")
    done = await client.start_new("echo", f"{prefix}-done", 1)
    waiting = await client.start_new("wait_for_approval", f"{prefix}-waiting")
    await stack.wait_until(done, RuntimeStatus.COMPLETED)
    await stack.wait_custom_status(waiting, "waiting")

    everything = await client.get_status_all()
    ids = {status.instance_id for status in everything}
    assert {done, waiting} <= ids

    by_status = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Completed])
    assert done in {s.instance_id for s in by_status} and waiting not in {s.instance_id for s in by_status}
    by_prefix = await client.get_status_by(instance_id_prefix=prefix)
    assert {s.instance_id for s in by_prefix} == {done, waiting}
    by_time = await client.get_status_by(
        created_time_from=since,
        created_time_to=datetime.now(UTC) + timedelta(seconds=5),
        runtime_status=[OrchestrationRuntimeStatus.Running],
        instance_id_prefix=prefix,
    )
    assert [s.instance_id for s in by_time] == [waiting]
    await client.terminate(waiting, "cleanup")


async def test_raise_event_and_terminate(stack: Stack) -> None:
    client = client_for(stack)
    instance_id = await client.start_new("wait_for_approval")
    await stack.wait_custom_status(instance_id, "waiting")
    await client.raise_event(instance_id, "Approval", {"ok": True})
    record = await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    # The extension hands the orchestrator the event body text (azure-functions-durable-python #295).
    output = json.loads(record.output or "null")
    assert output["approved"] in ({"ok": True}, json.dumps({"ok": True}))
    with pytest.raises(Exception, match="gone"):
        await client.raise_event(instance_id, "Approval", 1)
    with pytest.raises(Exception, match="No instance"):
        await client.raise_event(unique("nope"), "Approval", 1)

    other = await client.start_new("wait_for_approval")
    await stack.wait_custom_status(other, "waiting")
    await client.terminate(other, "no longer needed")
    await stack.wait_until(other, RuntimeStatus.TERMINATED)
    await client.terminate(other, "again")  # 410 is accepted by the SDK
    with pytest.raises(Exception, match="No instance"):
        await client.terminate(unique("nope"), "x")


async def test_suspend_and_resume(stack: Stack) -> None:
    client = client_for(stack)
    instance_id = await client.start_new("wait_for_approval")
    await stack.wait_custom_status(instance_id, "waiting")
    await client.suspend(instance_id, "pause please")
    await stack.wait_until(instance_id, RuntimeStatus.SUSPENDED)
    assert (await client.get_status(instance_id)).runtime_status == OrchestrationRuntimeStatus.Suspended
    await client.resume(instance_id, "carry on")
    await stack.wait_until(instance_id, RuntimeStatus.RUNNING)
    with pytest.raises(Exception, match="No instance"):
        await client.suspend(unique("nope"), "x")
    await client.terminate(instance_id, "cleanup")


async def test_rewind(stack: Stack) -> None:
    client = client_for(stack)
    failed = await client.start_new("always_fails", None, "rewind me")
    before = await stack.wait_until(failed, RuntimeStatus.FAILED)
    await client.rewind(failed, "try again please")
    await wait_until_async(lambda: failed_again(stack, failed, before.last_updated_time), message="a second failure")

    done = await client.start_new("echo", None, 1)
    await stack.wait_until(done, RuntimeStatus.COMPLETED)
    with pytest.raises(Exception, match="only supported on failed"):
        await client.rewind(done, "no")
    with pytest.raises(Exception, match="No instance"):
        await client.rewind(unique("nope"), "no")


async def test_restart(stack: Stack) -> None:
    client = client_for(stack)
    instance_id = await client.start_new("hello_sequence", None, ["Kyiv"])
    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    new_id = await client.restart(instance_id)
    assert isinstance(new_id, str) and new_id != instance_id
    record = await stack.wait_until(new_id, RuntimeStatus.COMPLETED)
    assert json.loads(record.output or "null") == ["Hello Kyiv!"]
    same = await client.restart(instance_id, restart_with_new_instance_id=False)
    assert same == instance_id
    with pytest.raises(Exception, match="No instance"):
        await client.restart(unique("nope"))


async def test_purge(stack: Stack) -> None:
    client = client_for(stack)
    since = datetime.now(UTC) - timedelta(seconds=1)
    one = await client.start_new("echo", None, "x")
    await stack.wait_until(one, RuntimeStatus.COMPLETED)
    assert (await client.purge_instance_history(one)).instances_deleted == 1
    assert (await client.purge_instance_history(one)).instances_deleted == 0
    assert not await client.get_status(one)

    two = await client.start_new("always_fails", None, "y")
    await stack.wait_until(two, RuntimeStatus.FAILED)
    result = await client.purge_instance_history_by(since, None, [OrchestrationRuntimeStatus.Failed])
    assert result.instances_deleted >= 1
    assert not await client.get_status(two)
    result = await client.purge_instance_history_by(since, None, [OrchestrationRuntimeStatus.Failed])
    assert result.instances_deleted == 0


async def test_entities(stack: Stack) -> None:
    client = client_for(stack)
    entity = df.EntityId("counter", unique("k"))
    assert not (await client.read_entity_state(entity)).entity_exists
    await client.signal_entity(entity, "add", 5)
    await client.signal_entity(entity, "add", 2)

    async def seven() -> bool:
        state = await client.read_entity_state(entity)
        return state.entity_exists and state.entity_state == 7

    await wait_until_async(seven, message="counter at 7")


async def test_wait_for_completion_and_check_status_responses(stack: Stack) -> None:
    client = client_for(stack)
    request = func.HttpRequest(method="POST", url="http://example.test:8080/api/start", body=b"")

    done = await client.start_new("hello_sequence", None, ["Nairobi"])
    response = await client.wait_for_completion_or_create_check_status_response(request, done, 15000, 100)
    assert response.status_code == 200
    assert json.loads(response.get_body()) == ["Hello Nairobi!"]

    failed = await client.start_new("always_fails", None, "z")
    response = await client.wait_for_completion_or_create_check_status_response(request, failed, 15000, 100)
    assert response.status_code == 500
    body = json.loads(response.get_body())
    assert body["runtimeStatus"] == "Failed" and "createdTime" in body and "lastUpdatedTime" in body

    waiting = await client.start_new("wait_for_approval")
    response = await client.wait_for_completion_or_create_check_status_response(request, waiting, 300, 100)
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith(f"http://example.test:8080{MANAGEMENT_PREFIX}/instances/{waiting}?")
    assert f"taskHub={TASK_HUB}" in location

    response = client.create_check_status_response(request, waiting)
    assert response.status_code == 202 and response.headers["Retry-After"] == "10"
    payload = json.loads(response.get_body())
    assert payload["id"] == waiting
    assert payload["sendEventPostUri"].startswith(
        f"http://example.test:8080{MANAGEMENT_PREFIX}/instances/{waiting}/raiseEvent/{{eventName}}"
    )
    # The public URLs in the payload really work against the host (origin swapped back).
    real_url = payload["statusQueryGetUri"].replace("http://example.test:8080", stack.origin)
    async with stack.session.get(real_url) as status_response:
        assert status_response.status == 202
        assert (await status_response.json())["instanceId"] == waiting
    await client.terminate(waiting, "cleanup")
    assert RPC_PREFIX not in location
