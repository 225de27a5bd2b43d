"""The dashboard's instance API against a real engine: filters, paging, detail, timeline, actions, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from devhost.durable.models import RuntimeStatus
from tests.support.dashboard import DashboardStack, running_dashboard
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGED = 130


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DashboardStack]:
    async with running_dashboard(tmp_path_factory.mktemp("dash-hub")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def paged_ids(stack: DashboardStack) -> list[str]:
    """PAGED quick instances with a shared id prefix, all completed."""
    ids = [await stack.engine.start_orchestration("quick", f"page-{n:04d}", json.dumps(n)) for n in range(PAGED)]
    for instance_id in ids:
        await stack.wait_until(instance_id)
    return ids


async def _all_pages(stack: DashboardStack, **params: str) -> list[dict]:
    rows: list[dict] = []
    token = None
    for _ in range(100):
        query = dict(params)
        if token:
            query["continuationToken"] = token
        status, page = await stack.get("/api/instances", **query)
        assert status == 200, page
        assert len(page["instances"]) <= int(params.get("pageSize", "50"))
        rows.extend(page["instances"])
        token = page["continuationToken"]
        if not token:
            return rows
    raise AssertionError("paging did not end")


async def test_paging_covers_every_instance_once_in_both_orders(stack: DashboardStack, paged_ids: list[str]) -> None:
    newest = await _all_pages(stack, prefix="page-", pageSize="17")
    ids = [row["instanceId"] for row in newest]
    assert len(ids) == len(set(ids)) == PAGED
    assert set(ids) == set(paged_ids)
    created = [row["createdTime"] for row in newest]
    assert created == sorted(created, reverse=True)

    oldest = await _all_pages(stack, prefix="page-", pageSize="40", sort="oldest")
    assert [row["instanceId"] for row in oldest] == list(reversed(ids))


async def test_filters_by_status_name_prefix_and_created_range(stack: DashboardStack, paged_ids: list[str]) -> None:
    waiting = await stack.engine.start_orchestration("wait_for_approval", "filter-waiting")
    await stack.wait_custom_status(waiting)
    status, page = await stack.get("/api/instances", status="Running,Pending", name="wait_for_approval")
    assert status == 200
    assert "filter-waiting" in {row["instanceId"] for row in page["instances"]}
    assert all(row["name"] == "wait_for_approval" for row in page["instances"])
    assert all(row["runtimeStatus"] in ("Running", "Pending") for row in page["instances"])

    status, page = await stack.get("/api/instances", prefix="page-001", status="Completed")
    assert status == 200
    assert sorted(row["instanceId"] for row in page["instances"]) == [f"page-{n:04d}" for n in range(10, 20)]
    first = page["instances"][0]
    assert first["name"] == "quick" and first["durationMs"] >= 0 and first["completedTime"]

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, page = await stack.get("/api/instances", createdFrom=future)
    assert status == 200 and page["instances"] == [] and page["continuationToken"] is None

    some = await _all_pages(stack, prefix="page-", pageSize="100")
    cut = sorted(row["createdTime"] for row in some)[PAGED // 2]
    status, page = await stack.get("/api/instances", prefix="page-", createdTo=cut, pageSize="500")
    assert status == 200
    assert 0 < len(page["instances"]) < PAGED
    assert all(row["createdTime"] <= cut for row in page["instances"])


async def test_fan_out_detail_history_and_timeline(stack: DashboardStack) -> None:
    instance_id = await stack.engine.start_orchestration("fan_out_cities", "fan-detail")
    await stack.wait_until(instance_id, RuntimeStatus.COMPLETED)

    status, detail = await stack.get(f"/api/instances/{instance_id}")
    assert status == 200
    assert detail["runtimeStatus"] == "Completed"
    assert detail["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!", "Hello Cairo!", "Hello Lima!"]
    assert detail["name"] == "fan_out_cities" and detail["children"] == []

    status, history = await stack.get(f"/api/instances/{instance_id}/history")
    assert status == 200
    names = [event["EventTypeName"] for event in history["events"]]
    assert names.count("TaskScheduled") == 5 and names.count("TaskCompleted") == 5
    assert names[-1] == "ExecutionCompleted"

    status, timeline = await stack.get(f"/api/instances/{instance_id}/timeline")
    assert status == 200
    bars = [bar for bar in timeline["bars"] if bar["kind"] == "activity"]
    assert len(bars) == 5
    assert {bar["label"] for bar in bars} == {json.dumps(c) for c in ["Tokyo", "Seattle", "London", "Cairo", "Lima"]}
    assert all(bar["name"] == "say_hello" and bar["outcome"] == "completed" for bar in bars)
    # Fan-out: every bar overlaps every other one (all start before the first one ends).
    assert max(bar["start"] for bar in bars) < min(bar["end"] for bar in bars)


async def test_parent_and_child_link_each_other(stack: DashboardStack) -> None:
    parent = await stack.engine.start_orchestration("parent_of_chain", "family")
    await stack.wait_until(parent, RuntimeStatus.COMPLETED)
    _, detail = await stack.get(f"/api/instances/{parent}")
    assert detail["children"] == [{"instanceId": "family-child", "name": "chain_cities"}]
    _, timeline = await stack.get(f"/api/instances/{parent}/timeline")
    assert [(b["kind"], b["instanceId"]) for b in timeline["bars"]] == [("suborchestration", "family-child")]
    _, child = await stack.get("/api/instances/family-child")
    assert child["parentInstanceId"] == "family"
    _, top_level = await stack.get("/api/instances", prefix="family", hideSub="true")
    assert [row["instanceId"] for row in top_level["instances"]] == ["family"]
    _, everything = await stack.get("/api/instances", prefix="family")
    assert {row["instanceId"] for row in everything["instances"]} == {"family", "family-child"}


async def test_actions_change_state(stack: DashboardStack) -> None:
    status, started = await stack.post("/api/instances", {"name": "wait_for_approval", "instanceId": "act-event"})
    assert status == 202 and started["instanceId"] == "act-event"
    await stack.wait_custom_status("act-event")
    status, _ = await stack.post("/api/instances/act-event/raise-event", {"eventName": "Approval", "data": {"ok": 1}})
    assert status == 202
    record = await stack.wait_until("act-event", RuntimeStatus.COMPLETED)
    assert json.loads(record.output or "null") == {"approval": {"ok": 1}}

    await stack.post("/api/instances", {"name": "wait_for_approval", "instanceId": "act-suspend"})
    await stack.wait_custom_status("act-suspend")
    assert (await stack.post("/api/instances/act-suspend/suspend", {"reason": "hold"}))[0] == 202
    await stack.wait_until("act-suspend", RuntimeStatus.SUSPENDED)
    assert (await stack.post("/api/instances/act-suspend/resume", {}))[0] == 202
    await stack.wait_until("act-suspend", RuntimeStatus.RUNNING)
    status, _ = await stack.post("/api/instances/act-suspend/terminate", {"reason": "from the dashboard"})
    assert status == 202
    await stack.wait_until("act-suspend", RuntimeStatus.TERMINATED)
    # Terminating again is refused with the engine's state error.
    status, error = await stack.post("/api/instances/act-suspend/terminate", {})
    assert status == 410 and error["error"]["type"] == "InstanceStateError"

    status, restarted = await stack.post("/api/instances/act-suspend/restart", {"newInstanceId": True})
    assert status == 202 and restarted["instanceId"] != "act-suspend"
    restarted_record = await stack.engine.get_instance(restarted["instanceId"])
    assert restarted_record is not None and restarted_record.name == "wait_for_approval"
    await stack.post(f"/api/instances/{restarted['instanceId']}/terminate", {})

    status, purged = await stack.post("/api/instances/act-event/purge")
    assert status == 200 and purged["instancesDeleted"] == 1
    assert (await stack.get("/api/instances/act-event"))[0] == 404


async def test_start_with_input_and_purge_by_filter(stack: DashboardStack) -> None:
    status, _ = await stack.post("/api/instances", {"name": "quick", "instanceId": "purge-me", "input": [1, 2]})
    assert status == 202
    await stack.wait_until("purge-me", RuntimeStatus.COMPLETED)
    _, detail = await stack.get("/api/instances/purge-me")
    assert detail["input"] == [1, 2] and detail["output"] == [1, 2]
    created = datetime.fromisoformat(detail["createdTime"])
    body = {
        "createdFrom": (created - timedelta(milliseconds=1)).isoformat(),
        "createdTo": (created + timedelta(milliseconds=1)).isoformat(),
        "statuses": ["Completed"],
    }
    status, result = await stack.post("/api/purge", body)
    assert status == 200 and result["instancesDeleted"] >= 1
    assert (await stack.get("/api/instances/purge-me"))[0] == 404


async def test_failed_instance_shows_failure_and_failed_bar(stack: DashboardStack) -> None:
    instance_id = await stack.engine.start_orchestration("failing", "will-fail")
    await stack.wait_until(instance_id, RuntimeStatus.FAILED)
    _, detail = await stack.get(f"/api/instances/{instance_id}")
    assert detail["runtimeStatus"] == "Failed" and "no such city" in (detail["failureMessage"] or "")
    _, timeline = await stack.get(f"/api/instances/{instance_id}/timeline")
    assert [(bar["name"], bar["outcome"]) for bar in timeline["bars"]] == [("explode", "failed")]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/instances", {"status": "Bogus"}),
        ("/api/instances", {"pageSize": "0"}),
        ("/api/instances", {"pageSize": "many"}),
        ("/api/instances", {"createdFrom": "yesterday"}),
        ("/api/instances", {"createdFrom": "2024-02-01T00:00:00Z", "createdTo": "2024-01-01T00:00:00Z"}),
        ("/api/instances", {"sort": "sideways"}),
        ("/api/instances", {"hideSub": "maybe"}),
        ("/api/instances", {"colour": "blue"}),
        ("/api/overview", {"window": "abc"}),
        ("/api/overview", {"window": "60", "bucket": "0"}),
        ("/api/queues/Not_A_Queue/messages", {}),
    ],
)
async def test_bad_query_parameters_are_400(stack: DashboardStack, path: str, params: dict[str, str]) -> None:
    status, body = await stack.get(path, **params)
    assert status == 400, body
    assert body["error"]["message"]


async def test_bad_action_requests(stack: DashboardStack) -> None:
    assert (await stack.post("/api/instances", {"instanceId": "x"}))[0] == 400  # no name
    status, body = await stack.post("/api/instances", {"name": "no_such_orchestrator"})
    assert status == 400 and body["error"]["type"] == "FunctionNotFoundError"
    assert (await stack.post("/api/instances/nobody-home/raise-event", {"eventName": "x"}))[0] == 404
    assert (await stack.post("/api/instances/nobody-home/raise-event", {"data": 1}))[0] == 400  # no eventName
    assert (await stack.post("/api/purge", {"statuses": ["Completed"]}))[0] == 400  # createdFrom is required
    assert (await stack.post("/api/purge", {"createdFrom": "2024-01-01", "statuses": ["Nope"]}))[0] == 400
    assert (await stack.get("/api/instances/nobody-home"))[0] == 404
    assert (await stack.get("/api/nowhere"))[0] == 404
    # Not JSON, or from another site's page: refused before anything happens.
    async with stack.session.post(stack.base_url + "/api/purge", data="createdFrom=2000-01-01") as response:
        assert response.status == 415
    cross_site = {"Origin": "http://evil.example"}
    status, _ = await stack.post("/api/purge", {"createdFrom": "2000-01-01T00:00:00Z"}, headers=cross_site)
    assert status == 403


async def test_overview_counts_and_throughput(stack: DashboardStack, paged_ids: list[str]) -> None:
    fan = await stack.engine.start_orchestration("fan_out_cities", "overview-fan")
    await stack.wait_until(fan, RuntimeStatus.COMPLETED)

    async def probe() -> dict:
        status, body = await stack.get("/api/overview", window="120", bucket="5")
        assert status == 200
        return body if body["activityDurationsMs"]["count"] >= 5 else {}

    overview = await wait_until_async(probe, message="activity durations in the overview")
    assert overview["statusCounts"]["Completed"] >= PAGED
    assert overview["nameCounts"]["quick"] >= PAGED
    assert set(overview["statusCounts"]) == {status.value for status in RuntimeStatus}
    buckets = overview["completions"]["buckets"]
    assert len(buckets) == 24
    assert sum(bucket["count"] for bucket in buckets) >= PAGED
    durations = overview["activityDurationsMs"]
    # say_hello sleeps 200 ms.
    assert 150 <= durations["p50"] <= durations["p95"] <= durations["max"]


async def test_ui_and_assets_are_served_without_external_urls(stack: DashboardStack) -> None:
    async with stack.session.get(stack.base_url + "/") as response:
        assert response.status == 200
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        html = await response.text()
    # Relative to the page: a hub's dashboard may live under /hubs/NAME/ (devhost/scheduler/dashboards.py).
    assert '<script type="module" src="static/js/main.js">' in html
    for asset in ("/static/app.css", "/static/js/main.js", "/static/js/views/detail.js", "/static/js/timeline.js"):
        async with stack.session.get(stack.base_url + asset) as response:
            assert response.status == 200, asset
            assert "https://" not in await response.text(), f"{asset} references an external URL"
