"""The public management API (/runtime/webhooks/durabletask) over real HTTP against the real engine."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from devhost.durable.models import RuntimeStatus
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from tests.integration.management.conftest import TASK_HUB, Stack
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PAYLOAD_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def start(stack: Stack, name: str, instance_id: str | None = None, body: Any = None, **query: str) -> str:
    url = f"{stack.public}/orchestrators/{name}" + (f"/{quote(instance_id, safe='')}" if instance_id else "")
    async with stack.session.post(url, json=body, params=query) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["id"])


async def get_json(stack: Stack, url: str, **params: str) -> tuple[int, Any, Any]:
    async with stack.session.get(url, params=params) as response:
        return response.status, await response.json(content_type=None), response.headers


async def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) >= {"error", "message"}
    for fragment in fragments:
        assert fragment in body["message"], body
    return dict(body)


async def test_start_returns_check_status_payload_with_absolute_urls(stack: Stack) -> None:
    async with stack.session.post(f"{stack.public}/orchestrators/hello_sequence") as response:
        assert response.status == 202
        payload = await response.json()
        assert set(payload) == PAYLOAD_KEYS
        assert response.headers["Location"] == payload["statusQueryGetUri"]
        assert response.headers["Retry-After"] == "10"
    instance_id = payload["id"]
    for key in PAYLOAD_KEYS - {"id"}:
        assert payload[key].startswith(f"{stack.public}/instances/{instance_id}"), payload[key]
        assert f"taskHub={TASK_HUB}&connection=Storage" in payload[key]
    assert payload["sendEventPostUri"].startswith(f"{stack.public}/instances/{instance_id}/raiseEvent/{{eventName}}?")
    assert payload["terminatePostUri"].startswith(f"{stack.public}/instances/{instance_id}/terminate?reason={{text}}&")

    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    status, body, headers = await get_json(stack, payload["statusQueryGetUri"])
    assert status == 200
    assert "Location" not in headers
    assert body["runtimeStatus"] == "Completed"
    assert body["name"] == "hello_sequence"
    assert body["instanceId"] == instance_id
    assert body["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert body["input"] is None
    assert TIME_FORMAT.match(body["createdTime"]) and TIME_FORMAT.match(body["lastUpdatedTime"])
    assert "historyEvents" not in body


async def test_urls_follow_the_mount_point_they_were_requested_on(stack: Stack) -> None:
    async with stack.session.post(f"{stack.rpc}/orchestrators/echo", json=1) as response:
        assert response.status == 202
        payload = await response.json()
    assert payload["statusQueryGetUri"].startswith(f"{stack.origin}{RPC_PREFIX}/instances/{payload['id']}?")
    assert response.headers["Location"].startswith(stack.origin + RPC_PREFIX)
    async with stack.session.post(
        f"http://localhost:{stack.port}{MANAGEMENT_PREFIX}/orchestrators/echo", json=2
    ) as response:
        payload = await response.json()
    assert payload["statusQueryGetUri"].startswith(f"http://localhost:{stack.port}{MANAGEMENT_PREFIX}/instances/")


async def test_start_with_input_and_id_then_duplicate_is_409(stack: Stack) -> None:
    instance_id = unique("approval")
    assert await start(stack, "wait_for_approval", instance_id, {"order": 7}) == instance_id
    await stack.wait_custom_status(instance_id, "waiting")
    url = f"{stack.public}/instances/{instance_id}"
    status, body, headers = await get_json(stack, url)
    assert status == 202
    assert body["runtimeStatus"] == "Running"
    assert body["input"] == {"order": 7}
    assert body["customStatus"] == "waiting"
    assert headers["Location"] == url
    assert headers["Retry-After"] == "5"

    status, body, _ = await get_json(stack, url, showInput="false")
    assert status == 202 and body["input"] is None

    async with stack.session.post(f"{stack.public}/orchestrators/wait_for_approval/{instance_id}") as response:
        await assert_error(response, 409)
    await stack.engine.terminate(instance_id, "cleanup")


async def test_start_refusals_are_400_with_explanations(stack: Stack) -> None:
    async with stack.session.post(f"{stack.public}/orchestrators/no_such_orchestrator") as response:
        body = await assert_error(response, 400)
        assert "no_such_orchestrator" in body["message"]
        assert body["ExceptionMessage"] == body["message"]
    async with stack.session.post(
        f"{stack.public}/orchestrators/hello_sequence", data="{not json", headers={"Content-Type": "application/json"}
    ) as response:
        await assert_error(response, 400, "not valid JSON")
    async with stack.session.post(f"{stack.public}/orchestrators/hello_sequence", params={"timeout": "soon"}) as r:
        await assert_error(r, 400, "'timeout'")
    async with stack.session.post(
        f"{stack.public}/orchestrators/hello_sequence", params={"timeout": "1", "pollingInterval": "5"}
    ) as response:
        await assert_error(response, 400, "pollingInterval")


async def test_unknown_instance_and_route_are_json_404(stack: Stack) -> None:
    async with stack.session.get(f"{stack.public}/instances/{unique('missing')}") as response:
        await assert_error(response, 404)
    async with stack.session.get(f"{stack.public}/no/such/route") as response:
        await assert_error(response, 404)
    for operation in ("terminate", "suspend", "resume", "rewind", "restart", "raiseEvent/Approval"):
        async with stack.session.post(
            f"{stack.public}/instances/{unique('missing')}/{operation}", json="x"
        ) as response:
            await assert_error(response, 404)
    async with stack.session.post(f"{stack.public}/instances/{unique('x')}/explode") as response:
        await assert_error(response, 404, "terminate")


async def test_start_and_wait_returns_output_failure_or_check_status(stack: Stack) -> None:
    url = f"{stack.public}/orchestrators/hello_sequence"
    async with stack.session.post(url, json=["Oslo"], params={"timeout": "15", "pollingInterval": "1"}) as response:
        assert response.status == 200
        assert await response.json() == ["Hello Oslo!"]
    url = f"{stack.public}/orchestrators/always_fails"
    async with stack.session.post(url, json="x", params={"timeout": "15", "pollingInterval": "1"}) as response:
        assert response.status == 200
        body = await response.json()
        assert body["runtimeStatus"] == "Failed"
        assert "boom: x" in body["output"]
    url = f"{stack.public}/orchestrators/wait_for_approval"
    async with stack.session.post(url, params={"timeout": "0.2", "pollingInterval": "0.1"}) as response:
        assert response.status == 202
        payload = await response.json()
        assert set(payload) == PAYLOAD_KEYS
    await stack.engine.terminate(payload["id"], "cleanup")


async def test_failed_instance_status_and_internal_server_error_flag(stack: Stack) -> None:
    instance_id = await start(stack, "always_fails", body="kaboom")
    await stack.wait_until(instance_id, RuntimeStatus.FAILED)
    url = f"{stack.public}/instances/{instance_id}"
    status, body, _ = await get_json(stack, url)
    assert status == 200
    assert body["runtimeStatus"] == "Failed"
    assert isinstance(body["output"], str) and "boom: kaboom" in body["output"]
    status, body, _ = await get_json(stack, url, returnInternalServerErrorOnFailure="TRUE")
    assert status == 500 and body["runtimeStatus"] == "Failed"
    async with stack.session.get(url, params={"showHistory": "maybe"}) as response:
        await assert_error(response, 400, "showHistory", "true or false")


async def test_show_history_shapes(stack: Stack) -> None:
    instance_id = await start(stack, "hello_sequence", body=["Tokyo", "Lima"])
    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    url = f"{stack.public}/instances/{instance_id}"

    status, body, _ = await get_json(stack, url, showHistory="true")
    assert status == 200
    events = body["historyEvents"]
    assert "history" not in body  # the SDK-only alias is for the RPC mount
    types = [event["EventType"] for event in events]
    assert types == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    for event in events:
        assert not {"EventId", "IsPlayed", "TaskScheduledId", "TimerId"} & set(event)
        assert "Timestamp" in event
    assert events[0]["FunctionName"] == "hello_sequence"
    assert events[0]["Input"] == ["Tokyo", "Lima"]
    first = events[1]
    assert first["FunctionName"] == "say_hello"
    assert "ScheduledTime" in first
    assert first["Input"] == "Tokyo"
    assert "Result" not in first
    assert events[-1]["OrchestrationStatus"] == "Completed"
    assert "Result" not in events[-1]

    status, body, _ = await get_json(stack, url, showHistory="True", showHistoryOutput="True", showInput="False")
    events = body["historyEvents"]
    assert [e.get("Result") for e in events if e["EventType"] == "TaskCompleted"] == ["Hello Tokyo!", "Hello Lima!"]
    assert events[-1]["Result"] == ["Hello Tokyo!", "Hello Lima!"]
    assert all("Input" not in event for event in events)
    assert body["input"] is None


async def test_raise_event_rules(stack: Stack) -> None:
    instance_id = await start(stack, "wait_for_approval")
    await stack.wait_custom_status(instance_id, "waiting")
    url = f"{stack.public}/instances/{instance_id}/raiseEvent/Approval"
    async with stack.session.post(url, data="yes", headers={"Content-Type": "text/plain"}) as response:
        await assert_error(response, 400, "application/json")
    async with stack.session.post(url, data="{oops", headers={"Content-Type": "application/json"}) as response:
        await assert_error(response, 400, "not valid JSON")
    async with stack.session.post(url, json={"by": "ana"}) as response:
        assert response.status == 202
        assert await response.read() == b""
    record = await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    assert record.output is not None
    _status, body, _ = await get_json(stack, f"{stack.public}/instances/{instance_id}")
    assert body["output"] == {"approved": {"by": "ana"}}
    async with stack.session.post(url, json=True) as response:
        await assert_error(response, 410, "ended")


async def test_terminate_suspend_resume(stack: Stack) -> None:
    instance_id = await start(stack, "wait_for_approval")
    await stack.wait_custom_status(instance_id, "waiting")
    base = f"{stack.public}/instances/{instance_id}"
    async with stack.session.post(f"{base}/suspend", params={"reason": "hold on"}) as response:
        assert response.status == 202
    await stack.wait_until(instance_id, RuntimeStatus.SUSPENDED)
    status, body, _ = await get_json(stack, base)
    assert status == 202 and body["runtimeStatus"] == "Suspended"
    async with stack.session.post(f"{base}/resume", params={"reason": "go"}) as response:
        assert response.status == 202
    await stack.wait_until(instance_id, RuntimeStatus.RUNNING)
    async with stack.session.post(f"{base}/Terminate", params={"reason": "enough"}) as response:
        assert response.status == 202
    await stack.wait_until(instance_id, RuntimeStatus.TERMINATED)
    status, body, _ = await get_json(stack, base)
    assert status == 200 and body["runtimeStatus"] == "Terminated"
    for operation in ("terminate", "suspend", "resume"):
        async with stack.session.post(f"{base}/{operation}") as response:
            await assert_error(response, 410)
    async with stack.session.post(f"{base}/rewind") as response:
        await assert_error(response, 410, "Failed")


async def test_rewind_failed_instance(stack: Stack) -> None:
    instance_id = await start(stack, "always_fails", body="again")
    failed = await stack.wait_until(instance_id, RuntimeStatus.FAILED)
    async with stack.session.post(f"{stack.public}/instances/{instance_id}/rewind", params={"reason": "retry"}) as r:
        assert r.status == 202
    # The activity always raises, so the rewound instance runs again and fails again.
    await wait_until_async(
        lambda: failed_again(stack, instance_id, failed.last_updated_time), message="a second failure"
    )


async def failed_again(stack: Stack, instance_id: str, since: datetime) -> bool:
    """True once the instance is Failed again after the given update time (i.e. it ran after a rewind)."""
    record = await stack.engine.get_instance(instance_id)
    return record is not None and record.runtime_status is RuntimeStatus.FAILED and record.last_updated_time > since


async def test_restart(stack: Stack) -> None:
    instance_id = await start(stack, "hello_sequence", body=["Rome"])
    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    async with stack.session.post(f"{stack.public}/instances/{instance_id}/restart") as response:
        assert response.status == 202
        payload = await response.json()
    assert set(payload) == PAYLOAD_KEYS and payload["id"] != instance_id
    record = await stack.wait_until(payload["id"], RuntimeStatus.COMPLETED)
    assert record.output is not None and "Hello Rome!" in record.output

    async with stack.session.post(
        f"{stack.public}/instances/{instance_id}/restart", params={"restartWithNewInstanceId": "false"}
    ) as response:
        assert response.status == 202
        assert (await response.json())["id"] == instance_id


async def test_percent_encoded_instance_ids(stack: Stack) -> None:
    instance_id = unique("city ä+1")
    assert await start(stack, "echo", instance_id, "hi") == instance_id
    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)
    status, body, _ = await get_json(stack, f"{stack.public}/instances/{quote(instance_id, safe='')}")
    assert status == 200 and body["instanceId"] == instance_id and body["output"] == "hi"


async def test_list_validation(stack: Stack) -> None:
    url = f"{stack.public}/instances/"
    for params, fragment in (
        ({"runtimeStatus": "Running,Done"}, "Done"),
        ({"top": "0"}, "'top'"),
        ({"top": "many"}, "'top'"),
        ({"createdTimeFrom": "yesterday"}, "createdTimeFrom"),
        ({"showInput": "nope"}, "showInput"),
        ({"createdTimeFrom": "2030-01-01T00:00:00Z", "createdTimeTo": "2020-01-01T00:00:00Z"}, "later"),
    ):
        async with stack.session.get(url, params=params) as response:
            await assert_error(response, 400, fragment)
    # Accepted spellings: Python's short years, .NET's 7 fractional digits, offsets, plain dates.
    for value in (
        "1-01-01T00:00:00.000000Z",
        "2024-05-01T10:00:00.1234567Z",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01",
    ):
        async with stack.session.get(url, params={"createdTimeFrom": value, "top": "1"}) as response:
            assert response.status == 200, (value, await response.text())


async def test_list_filters(stack: Stack) -> None:
    prefix = unique("filter")
    before = datetime.now(UTC) - timedelta(seconds=1)
    done = await start(stack, "echo", f"{prefix}-done", 1)
    waiting = await start(stack, "wait_for_approval", f"{prefix}-waiting")
    await stack.wait_until(done, RuntimeStatus.COMPLETED)
    await stack.wait_custom_status(waiting, "waiting")
    url = f"{stack.public}/instances"

    status, body, headers = await get_json(stack, url, instanceIdPrefix=prefix)
    assert status == 200 and headers["x-ms-continuation-token"] == ""
    assert {item["instanceId"] for item in body} == {done, waiting}

    _, body, _ = await get_json(stack, url, instanceIdPrefix=prefix, runtimeStatus="completed,Failed")
    assert [item["instanceId"] for item in body] == [done]
    _, body, _ = await get_json(stack, url, instanceIdPrefix=prefix, runtimeStatus="Running")
    assert [item["instanceId"] for item in body] == [waiting]
    _, body, _ = await get_json(stack, url, instanceIdPrefix=prefix, showInput="false")
    assert all(item["input"] is None for item in body)
    _, body, _ = await get_json(stack, url, instanceIdPrefix=prefix, createdTimeFrom=iso(before))
    assert len(body) == 2
    _, body, _ = await get_json(
        stack, url, instanceIdPrefix=prefix, createdTimeFrom=iso(datetime.now(UTC) + timedelta(hours=1))
    )
    assert body == []
    _, body, _ = await get_json(stack, url, instanceIdPrefix=prefix, createdTimeTo=iso(before))
    assert body == []
    await stack.engine.terminate(waiting, "cleanup")


async def test_list_pages_over_more_than_a_hundred_instances(stack: Stack) -> None:
    prefix = unique("page")
    started = {await start(stack, "echo", f"{prefix}-{n:03d}", n) for n in range(105)}
    url = f"{stack.public}/instances/"

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        async with stack.session.get(url, params={"instanceIdPrefix": prefix, "top": "30"}, headers=headers) as r:
            assert r.status == 200
            page = await r.json()
            token = r.headers["x-ms-continuation-token"]
        pages += 1
        assert len(page) <= 30
        seen.extend(item["instanceId"] for item in page)
        if not token:
            break
        assert pages < 10, "paging does not end"
    assert pages == 4
    assert len(seen) == len(set(seen)) == 105
    assert set(seen) == started

    # Without top the page holds 100 (the extension's default) and a token leads to the rest.
    status, body, headers = await get_json(stack, url, instanceIdPrefix=prefix)
    assert status == 200 and len(body) == 100 and headers["x-ms-continuation-token"] != ""
    async with stack.session.get(
        url,
        params={"instanceIdPrefix": prefix},
        headers={"x-ms-continuation-token": headers["x-ms-continuation-token"]},
    ) as response:
        rest = await response.json()
        assert response.status == 200 and response.headers["x-ms-continuation-token"] == ""
    assert {item["instanceId"] for item in body + rest} == started


async def test_purge(stack: Stack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with stack.session.delete(f"{stack.public}/instances/") as response:
        await assert_error(response, 400, "createdTimeFrom")
    async with stack.session.delete(f"{stack.public}/instances/", params={"createdTimeFrom": "garbage"}) as response:
        await assert_error(response, 400, "createdTimeFrom")

    one = await start(stack, "echo", body="purge me")
    await stack.wait_until(one, RuntimeStatus.COMPLETED)
    async with stack.session.delete(f"{stack.public}/instances/{one}") as response:
        assert response.status == 200
        assert await response.json() == {"instancesDeleted": 1}
    async with stack.session.get(f"{stack.public}/instances/{one}") as response:
        await assert_error(response, 404)
    async with stack.session.delete(f"{stack.public}/instances/{one}") as response:
        await assert_error(response, 404)

    running = await start(stack, "wait_for_approval")
    await stack.wait_custom_status(running, "waiting")
    async with stack.session.delete(f"{stack.public}/instances/{running}") as response:
        await assert_error(response, 412, "terminate")
    await stack.engine.terminate(running, "cleanup")
    await stack.wait_until(running, RuntimeStatus.TERMINATED)

    two = await start(stack, "echo", body="and me")
    await stack.wait_until(two, RuntimeStatus.COMPLETED)
    params = {"createdTimeFrom": iso(since), "runtimeStatus": "Terminated"}
    async with stack.session.delete(f"{stack.public}/instances/", params=params) as response:
        assert response.status == 200
        assert (await response.json())["instancesDeleted"] >= 1
    assert await stack.engine.get_instance(running) is None
    assert await stack.engine.get_instance(two) is not None
    async with stack.session.delete(f"{stack.public}/instances/", params=params) as response:
        await assert_error(response, 404)


async def test_entities(stack: Stack) -> None:
    key = unique("k")
    url = f"{stack.public}/entities/counter/{key}"
    async with stack.session.get(url) as response:
        await assert_error(response, 404)
    async with stack.session.post(url) as response:
        await assert_error(response, 400, "?op=")
    async with stack.session.post(url, params={"op": "add"}, json=5) as response:
        assert response.status == 202
    async with stack.session.post(url, params={"op": "add"}, data="3", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 202
    async with stack.session.post(
        url, params={"op": "add"}, data="{", headers={"Content-Type": "application/json"}
    ) as r:
        await assert_error(r, 400, "not valid JSON")

    async def state_is_8() -> bool:
        async with stack.session.get(url) as response:
            return response.status == 200 and await response.json() == 8

    await wait_until_async(state_is_8, message="counter state 8")
    status, body, headers = await get_json(stack, f"{stack.public}/entities/counter", fetchState="true")
    assert status == 200 and headers["x-ms-continuation-token"] == ""
    mine = [item for item in body if item["entityId"]["key"] == key]
    assert mine and mine[0]["state"] == 8 and mine[0]["entityId"]["name"] == "counter"
    async with stack.session.delete(url) as response:
        assert response.status == 202

    async def gone() -> bool:
        async with stack.session.get(url) as response:
            return response.status == 404

    await wait_until_async(gone, message="deleted entity")


async def test_oversized_body_is_a_json_413(stack: Stack) -> None:
    too_big = b"[" + b"1," * (1024 * 1024) + b"1]"  # over aiohttp's default 1 MiB client_max_size
    # As a stream: aiohttp warns (ResourceWarning) that a raw bytes body this large may block the event loop.
    async with stack.session.post(
        f"{stack.public}/orchestrators/echo", data=io.BytesIO(too_big), headers={"Content-Type": "application/json"}
    ) as response:
        await assert_error(response, 413, "too large")
