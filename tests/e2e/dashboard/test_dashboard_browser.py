"""The dashboard in headless Chromium while orchestrations run: live list (server events, polling fallback),
timeline, actions, keyboard, orchestrator suggestions, entities."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.storage.queue.aio import QueueServiceClient

from devhost.dashboard.app import DashboardSettings
from devhost.durable.models import RuntimeStatus
from tests.support.azurite import Azurite
from tests.support.blob_triggers import running_blob_app, upload
from tests.support.browser import chromium_page
from tests.support.dashboard import running_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.azurite]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
# In one go (the overview may redraw between two queries): the chart's bar tooltips, the rows of its data table
# written the same way ("time: N completed (R/s)"), the sum of the table's Completed column, and the chart's label.
CHART_AND_TABLE_JS = """() => {
  const table = document.querySelector("figure.chart-figure table");
  const cells = [...table.tBodies[0].rows].map((tr) => [...tr.cells].map((cell) => cell.textContent));
  return {
    bars: [...document.querySelectorAll("svg.chart rect.chart-bar > title")].map((title) => title.textContent),
    rows: cells.map(([time, count, rate]) => `${time}: ${count} completed (${rate}/s)`),
    total: cells.reduce((sum, [, count]) => sum + Number(count), 0),
    label: document.querySelector("svg.chart").getAttribute("aria-label"),
  };
}"""


@pytest.fixture
async def browser_page() -> AsyncIterator:
    async with chromium_page() as page:
        yield page


async def test_dashboard_end_to_end(browser_page, azurite: Azurite, tmp_path: Path) -> None:
    from playwright.async_api import expect

    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        for name in ("e2e-cities", "e2e-cities-poison"):
            await service.create_queue(name)
        payload = base64.b64encode(json.dumps({"city": "Atlantis"}).encode()).decode()
        await service.get_queue_client("e2e-cities-poison").send_message(payload)
    settings = DashboardSettings(
        task_hub="BrowserHub",
        storage_connection_string=azurite.connection_string,
        queue_names=["e2e-cities"],
        orchestrator_names=["fan_out_cities", "chain_cities", "quick", "wait_for_approval"],
    )
    async with running_dashboard(tmp_path / "hub", settings, task_hub="BrowserHub") as stack:
        engine = stack.engine
        fan = await engine.start_orchestration("fan_out_cities", "fan-e2e")
        await engine.start_orchestration("chain_cities", "chain-e2e")
        await engine.start_orchestration("parent_of_chain", "parent-e2e")
        await stack.wait_until(fan, RuntimeStatus.COMPLETED)

        # The list loads, then shows an instance started after the page loaded, without a reload.
        await page.goto(stack.base_url + "/#/instances")
        await expect(page.locator('tr[data-instance-id="fan-e2e"]')).to_have_count(1)
        await page.evaluate("window.__loadedOnce = true")
        # Live updates come from the server's event stream, not from polling.
        await expect(page.locator("body")).to_have_attribute("data-live", "events")
        await engine.start_orchestration("wait_for_approval", "live-e2e")
        await expect(page.locator('tr[data-instance-id="live-e2e"]')).to_have_count(1)
        assert await page.evaluate("window.__loadedOnce") is True, "the page reloaded"
        await page.screenshot(path=str(ARTIFACTS / "instances.png"), full_page=True)

        # The name filter suggests the app's orchestrators.
        suggestions = await page.locator("#orchestrator-suggestions option").evaluate_all("o => o.map(x => x.value)")
        assert suggestions == ["chain_cities", "fan_out_cities", "quick", "wait_for_approval"]
        assert await page.locator("#f-name").get_attribute("list") == "orchestrator-suggestions"

        # Filters live in the URL: filtering by status changes the hash, Back restores the unfiltered list.
        await page.get_by_role("checkbox", name="Completed", exact=True).check()
        await expect(page).to_have_url(re.compile(r"#/instances\?status=Completed$"))
        await expect(page.locator('tr[data-instance-id="live-e2e"]')).to_have_count(0)
        await page.go_back()
        await expect(page.locator('tr[data-instance-id="live-e2e"]')).to_have_count(1)

        # The fan-out's detail shows its five activities side by side on the timeline.
        await page.get_by_role("link", name="fan-e2e", exact=True).click()
        bars = page.locator('.tl-row[data-kind="activity"]')
        await expect(bars).to_have_count(5)
        await expect(page.locator(".tl-summary")).to_contain_text("up to 5 at once")
        await expect(page.get_by_role("heading", name="History (")).to_be_visible()
        # The command that replays this instance through the app's current code, ready to copy.
        await expect(page.locator(".replay-command code")).to_have_text("devhost replay fan-e2e")
        await page.screenshot(path=str(ARTIFACTS / "fan-out-detail.png"), full_page=True)

        # Raise an event to the waiting instance through the UI; its status turns Completed.
        await stack.wait_custom_status("live-e2e")
        await page.goto(stack.base_url + "/#/instance/live-e2e")
        await expect(page.locator("h1 .badge")).to_have_text("Running")
        await page.get_by_role("button", name="Raise event").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("Event name").fill("Approval")
        await dialog.get_by_label("Payload (JSON)").fill('{"by": "browser"}')
        await page.screenshot(path=str(ARTIFACTS / "raise-event-dialog.png"))
        await dialog.get_by_role("button", name="Raise event").click()
        await expect(page.locator("h1 .badge")).to_have_text("Completed")
        record = await engine.get_instance("live-e2e")
        assert record is not None and record.output is not None
        assert json.loads(record.output) == {"approval": {"by": "browser"}}

        # Terminate another waiting instance; Escape first closes the dialog without acting.
        await engine.start_orchestration("wait_for_approval", "doomed-e2e")
        await stack.wait_custom_status("doomed-e2e")
        await page.goto(stack.base_url + "/#/instance/doomed-e2e")
        await expect(page.locator("h1 .badge")).to_have_text("Running")
        await page.get_by_role("button", name="Terminate").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_have_count(0)
        doomed = await engine.get_instance("doomed-e2e")
        assert doomed is not None and doomed.runtime_status == RuntimeStatus.RUNNING
        await page.get_by_role("button", name="Terminate").click()
        await page.get_by_role("dialog").get_by_label("Reason").fill("stopped from the browser test")
        await page.get_by_role("dialog").get_by_role("button", name="Terminate").click()
        await expect(page.locator("h1 .badge")).to_have_text("Terminated")

        # A change made elsewhere (the engine, not this page) reaches an open detail through the event stream.
        await engine.start_orchestration("wait_for_approval", "remote-e2e")
        await stack.wait_custom_status("remote-e2e")
        await page.goto(stack.base_url + "/#/instance/remote-e2e")
        await expect(page.locator("h1 .badge")).to_have_text("Running")
        await engine.raise_event("remote-e2e", "Approval", json.dumps("from elsewhere"))
        await expect(page.locator("h1 .badge")).to_have_text("Completed")

        # Back in the list, both status changes show.
        await page.goto(stack.base_url + "/#/instances")
        await expect(page.locator('tr[data-instance-id="live-e2e"]')).to_have_attribute("data-status", "Completed")
        await expect(page.locator('tr[data-instance-id="doomed-e2e"]')).to_have_attribute("data-status", "Terminated")

        # A sub-orchestration links to its parent.
        await stack.wait_until("parent-e2e", RuntimeStatus.COMPLETED)
        await page.goto(stack.base_url + "/#/instance/parent-e2e-child")
        await page.get_by_role("link", name="parent-e2e", exact=True).click()
        await expect(page.locator(".tl-row[data-kind='suborchestration']")).to_have_count(1)

        # The Start dialog offers the app's orchestrators; picking one by keyboard fills the name.
        await page.goto(stack.base_url + "/#/instances")
        await page.get_by_role("button", name="Start orchestration").click()
        dialog = page.get_by_role("dialog")
        picks = dialog.get_by_role("group", name="Orchestrators of this app").get_by_role("button")
        await expect(picks).to_have_text(["chain_cities", "fan_out_cities", "quick", "wait_for_approval"])
        await picks.filter(has_text="quick").focus()
        await page.keyboard.press("Enter")
        await expect(dialog.get_by_label("Orchestrator name")).to_have_value("quick")
        await expect(dialog.get_by_label("Orchestrator name")).to_be_focused()
        await dialog.get_by_label("Instance ID").fill("picked-e2e")
        await dialog.get_by_label("Input (JSON)").fill('{"picked": true}')
        await page.screenshot(path=str(ARTIFACTS / "start-dialog.png"))
        await dialog.get_by_role("button", name="Start").click()
        await expect(page).to_have_url(re.compile(r"#/instance/picked-e2e$"))
        await expect(page.locator("h1 .badge")).to_have_text("Completed")

        # Entities: a signalled counter is listed; its detail shows the state; Signal updates it.
        await engine.signal_entity("counter", "tokyo", "add", json.dumps(json.dumps(3)))
        await page.get_by_role("link", name="Entities", exact=True).click()
        row = page.locator('tr[data-entity-id="@counter@tokyo"]')
        await expect(row).to_contain_text('{"count": 3, "operations": 1}')
        await row.get_by_role("link", name="tokyo").click()
        await expect(page).to_have_url(re.compile(r"#/entities\?name=counter&key=tokyo$"))
        state = page.locator(".entity-detail pre.json")
        await expect(state).to_have_text(json.dumps({"count": 3, "operations": 1}, indent=2))
        await page.get_by_role("button", name="Signal…").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("Operation").fill("add")
        await dialog.get_by_label("Input (JSON)").fill("not json")
        await dialog.get_by_role("button", name="Signal").click()
        await expect(dialog.get_by_role("alert")).to_contain_text("Input is not valid JSON")
        await dialog.get_by_label("Input (JSON)").fill("4")
        await dialog.get_by_role("button", name="Signal").click()
        await expect(dialog).to_have_count(0)
        await expect(state).to_have_text(json.dumps({"count": 7, "operations": 2}, indent=2))
        await expect(row).to_have_class(re.compile(r"\bselected\b"))
        await page.screenshot(path=str(ARTIFACTS / "entities.png"), full_page=True)

        await page.goto(stack.base_url + "/#/overview")
        await expect(page.locator("a.stat-card")).to_have_count(8)
        await expect(page.locator("svg.chart")).to_be_visible()
        # The chart's numbers for screen readers: a table in the accessibility tree but out of sight, one row per bar
        # with that bar's numbers, redrawn with the chart (here: another window, so other buckets).
        chart_data = page.get_by_role("table", name="Completions per bucket")
        await expect(chart_data.locator("tbody tr")).to_have_count(30)
        box = await chart_data.locator("xpath=..").bounding_box()
        assert box is not None and box["width"] <= 1 and box["height"] <= 1, f"the data table is visible: {box}"
        chart = await page.evaluate(CHART_AND_TABLE_JS)
        assert len(chart["bars"]) == 30 and chart["rows"] == chart["bars"]
        assert chart["total"] >= 1 and f"{chart['total']} completed in total" in chart["label"]
        await page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
        await page.get_by_label("Chart window").select_option("3600")
        await expect(chart_data.locator("tbody tr")).to_have_count(60)
        chart = await page.evaluate(CHART_AND_TABLE_JS)
        assert len(chart["bars"]) == 60 and chart["rows"] == chart["bars"]
        assert f"{chart['total']} completed in total" in chart["label"]

        await page.goto(stack.base_url + "/#/queues")
        await expect(page.locator('tr[data-queue="e2e-cities"]')).to_be_visible()
        await page.get_by_role("button", name="Peek e2e-cities-poison").click()
        await expect(page.locator("tr[data-message-id]")).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "queues.png"), full_page=True)
        await page.get_by_role("button", name="Requeue").click()
        await page.get_by_role("dialog").get_by_role("button", name="Requeue").click()
        await expect(page.locator("tr[data-message-id]")).to_have_count(0)


async def test_list_falls_back_to_polling_without_server_events(browser_page, tmp_path: Path) -> None:
    from playwright.async_api import expect

    page = browser_page
    async with running_dashboard(tmp_path / "hub", task_hub="PollingHub") as stack:
        await page.route("**/api/events", lambda route: route.abort())
        await page.goto(stack.base_url + "/#/instances")
        await expect(page.locator("body")).to_have_attribute("data-live", "polling")
        await expect(page.locator("td.empty")).to_have_count(1)
        await stack.engine.start_orchestration("quick", "polled-e2e")
        await expect(page.locator('tr[data-instance-id="polled-e2e"]')).to_have_count(1)


async def test_queues_page_shows_blob_triggers_and_their_poison_entries(
    browser_page, azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect

    page = browser_page
    async with running_blob_app(azurite, tmp_path, monkeypatch) as app:
        await upload(azurite, app.containers["BLOB_INPUT"], "photo.jpg", b"jpeg")
        await upload(azurite, app.containers["BLOB_FAILING"], "broken.csv", b"x")
        settings = DashboardSettings(
            task_hub="BlobPageHub", storage_connection_string=azurite.connection_string, blob_triggers=app.listeners
        )
        async with running_dashboard(tmp_path / "hub", settings, task_hub="BlobPageHub") as stack:
            await page.goto(stack.base_url + "/#/queues")
            upload_row = page.locator('tr[data-blob-trigger="process_upload"]')
            await expect(upload_row).to_contain_text(app.containers["BLOB_INPUT"])
            # Blobs seen, done, pending, poisoned (the page polls every 2 s until the blob is done).
            await expect(upload_row.locator("td.num")).to_have_text(["1", "1", "0", "0"], timeout=30_000)
            failing_row = page.locator('tr[data-blob-trigger="always_fails"]')
            await expect(failing_row.locator("td.num")).to_have_text(["1", "0", "0", "1"], timeout=30_000)
            poison = page.locator("table.blob-poison tr[data-message-id]", has_text="broken.csv")
            await expect(poison).to_have_count(1)
            await expect(poison).to_contain_text(f"{app.containers['BLOB_FAILING']}/broken.csv")
            await page.screenshot(path=str(ARTIFACTS / "queues-blob-triggers.png"), full_page=True)
            # Its poison queue can be peeked, but its entries name blobs: no Requeue button.
            await page.get_by_role("button", name="Peek webjobs-blobtrigger-poison").click()
            await expect(page.locator("table.messages tr[data-message-id]").first).to_be_visible()
            await expect(page.get_by_role("button", name="Requeue")).to_have_count(0)
