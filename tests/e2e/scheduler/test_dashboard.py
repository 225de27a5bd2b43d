"""The scheduler's dashboard: work that no connected worker takes waits and is shown waiting (instance list,
detail, overview), and every task hub has its own dashboard path, picked in the header."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from durabletask import task

from tests.support.browser import chromium_page
from tests.support.scheduler import client, orchestrator, running_scheduler, running_worker
from tests.support.waiting import wait_until


@orchestrator
def nobody_runs_this(ctx: task.OrchestrationContext, _: Any) -> str:
    return "ran at last"


@orchestrator
def asks_for_missing(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.call_activity("missing_step", input=2))


def missing_step(ctx: task.ActivityContext, value: int) -> int:
    return value * 21


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _waiting_for(port: int, instance_id: str) -> list[dict[str, Any]]:
    return _get(port, f"/api/instances/{instance_id}")["waitingFor"]


def test_work_nobody_runs_waits_and_the_dashboard_says_so(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        port, dashboard = scheduler.port, scheduler.dashboard_port
        sdk = client(port)
        idle = sdk.schedule_new_orchestration("nobody_runs_this")
        waits_idle = [{"kind": "orchestration", "name": "nobody_runs_this", "count": 1}]
        wait_until(lambda: _waiting_for(dashboard, idle) == waits_idle, 10, "the orchestration shown waiting")
        row = next(r for r in _get(dashboard, "/api/instances")["instances"] if r["instanceId"] == idle)
        assert (row["runtimeStatus"], row["waitingFor"]) == ("Pending", waits_idle)

        # A worker that runs the orchestrator but not its activity: the activity waits, the instance runs.
        with running_worker(port, asks_for_missing, filters=True):
            asks = sdk.schedule_new_orchestration("asks_for_missing")
            waits_step = [{"kind": "activity", "name": "missing_step", "count": 1}]
            wait_until(lambda: _waiting_for(dashboard, asks) == waits_step, 15, "the activity shown waiting")
            assert _get(dashboard, f"/api/instances/{asks}")["runtimeStatus"] == "Running"
            assert _get(dashboard, "/api/overview")["waiting"] == [
                {"kind": "activity", "name": "missing_step", "count": 1},
                {"kind": "orchestration", "name": "nobody_runs_this", "count": 1},
            ]
            # Then a worker that runs the activity connects: the waiting item runs, once.
            with running_worker(port, missing_step, filters=True):
                state = sdk.wait_for_orchestration_completion(asks, timeout=30)
        assert state is not None and state.serialized_output == "42"
        assert _waiting_for(dashboard, asks) == []
        history = _get(dashboard, f"/api/instances/{asks}/history")["events"]
        assert [e["EventTypeName"] for e in history].count("TaskCompleted") == 1
        assert _get(dashboard, "/api/overview")["waiting"] == waits_idle
        assert _waiting_for(dashboard, idle) == waits_idle


@pytest.mark.browser
@pytest.mark.slow
async def test_the_dashboard_picks_hubs_and_shows_work_waiting_for_a_worker(tmp_path: Path):
    from playwright.async_api import expect

    with running_scheduler(tmp_path, task_hubs="default,other") as scheduler:
        port, base = scheduler.port, f"http://127.0.0.1:{scheduler.dashboard_port}"
        in_default = client(port).schedule_new_orchestration("nobody_runs_this")
        in_other = client(port, taskhub="other").schedule_new_orchestration("nobody_runs_this", tags={"team": "cities"})
        async with chromium_page() as page:
            await page.goto(base + "/#/instances")
            picker = page.get_by_role("combobox", name="Task hub")
            await expect(picker).to_have_value("/")
            assert await picker.locator("option").all_inner_texts() == ["default", "other"]
            await expect(page.locator(f'tr[data-instance-id="{in_default}"]')).to_have_count(1)
            await expect(page.locator(f'tr[data-instance-id="{in_other}"]')).to_have_count(0)

            # Another hub: its own path, the same view, its own instances (and their waiting work).
            await picker.select_option(label="other")
            await expect(page).to_have_url(base + "/hubs/other/#/instances")
            await expect(page.get_by_role("combobox", name="Task hub")).to_have_value("/hubs/other/")
            row = page.locator(f'tr[data-instance-id="{in_other}"]')
            await expect(row.locator(".waiting-marker")).to_have_text(
                "waiting for a worker that runs orchestrator 'nobody_runs_this'"
            )
            await expect(page.locator(f'tr[data-instance-id="{in_default}"]')).to_have_count(0)

            await row.get_by_role("link", name=in_other).click()
            await expect(page.locator(".notice.waiting")).to_contain_text(
                "This instance is waiting for a worker that runs orchestrator 'nobody_runs_this'."
            )
            await expect(page.locator(".tag-list li")).to_have_text(["team=cities"])
            await page.get_by_role("link", name="Overview").click()
            waiting = page.get_by_role("table", name="Work waiting for a worker")
            only_row = re.compile(r"orchestration\s*nobody_runs_this\s*1")
            await expect(waiting.locator("tbody tr")).to_have_text([only_row])

            # A worker for the name connects to this hub: the instance runs, and the page says so without a reload.
            await page.get_by_role("link", name="Instances").click()
            with running_worker(port, nobody_runs_this, taskhub="other", filters=True):
                await expect(row.locator(".badge")).to_have_text("Completed", timeout=20_000)
                await expect(row.locator(".waiting-marker")).to_have_count(0)
            await page.goto(base + "/hubs/other/#/overview")
            await expect(page.get_by_role("table", name="Work waiting for a worker")).to_have_count(0)

            # Back to the default hub, whose instance still waits: the plain URL.
            await page.get_by_role("combobox", name="Task hub").select_option(label="default")
            await expect(page).to_have_url(base + "/#/overview")
            await expect(page.get_by_role("table", name="Work waiting for a worker")).to_have_count(1)


def test_the_live_feed_reports_an_instance_starting_to_wait(tmp_path: Path):
    # Parking a work item changes no instance row: the feed compares the waiting instances itself.
    with running_scheduler(tmp_path) as scheduler:
        url = f"http://127.0.0.1:{scheduler.dashboard_port}/api/events"
        with urllib.request.urlopen(url, timeout=15) as stream:
            assert stream.readline().startswith(b"retry:")
            instance_id = client(scheduler.port).schedule_new_orchestration("nobody_runs_this")
            reasons: dict[str, list[str]] = {}
            while "waiting" not in reasons:
                line = stream.readline().decode()
                if line.startswith("data: ") and '"reason"' in line:
                    change = json.loads(line.removeprefix("data: "))
                    reasons.setdefault(change["reason"], []).extend(change["instanceIds"] or [])
        assert reasons["waiting"] == [instance_id]
