"""The dashboard's entity API and orchestrator names against a real engine running the counter entity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from devhost.dashboard.app import DashboardSettings
from tests.support.dashboard import TASK_HUB, DashboardStack, running_dashboard
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.asyncio(loop_scope="module")

ORCHESTRATORS = ["wait_for_approval", "chain_cities", "Fan_Out_Cities"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DashboardStack]:
    settings = DashboardSettings(task_hub=TASK_HUB, orchestrator_names=ORCHESTRATORS)
    async with running_dashboard(tmp_path_factory.mktemp("entity-hub"), settings) as running:
        yield running


async def _entity_state(stack: DashboardStack, name: str, key: str, expected: object) -> dict:
    async def probe() -> dict | None:
        status, body = await stack.get(f"/api/entities/{name}/{key}")
        return body if status == 200 and body["state"] == expected else None

    found = await wait_until_async(probe, message=f"@{name}@{key} to have state {expected}")
    assert found is not None
    return found


async def test_settings_list_the_orchestrators_sorted(stack: DashboardStack) -> None:
    status, body = await stack.get("/api/settings")
    assert status == 200
    assert body["orchestratorNames"] == ["chain_cities", "Fan_Out_Cities", "wait_for_approval"]
    assert body["taskHub"] == TASK_HUB


async def test_settings_store_orchestrator_names_as_a_tuple() -> None:
    settings = DashboardSettings(orchestrator_names=["a", "b"])
    assert settings.orchestrator_names == ("a", "b")
    assert DashboardSettings().orchestrator_names == ()


async def test_signal_then_read_and_list(stack: DashboardStack) -> None:
    status, body = await stack.post("/api/entities/counter/alpha/signal", {"operation": "add", "input": 5})
    assert status == 202, body
    assert body == {"ok": True, "entityId": "@counter@alpha", "operation": "add"}
    await stack.post("/api/entities/counter/alpha/signal", {"operation": "add", "input": 2})
    detail = await _entity_state(stack, "counter", "alpha", {"count": 7, "operations": 2})
    assert detail["name"] == "counter" and detail["key"] == "alpha" and detail["entityId"] == "@counter@alpha"
    assert detail["lastOperationTime"].endswith("Z")
    assert detail["lockedBy"] is None

    # A signal without input reaches the entity too; a second entity shows up in the list, newest first.
    await stack.post("/api/entities/counter/beta/signal", {"operation": "reset"})
    await _entity_state(stack, "counter", "beta", {"count": 0, "operations": 1})
    status, listing = await stack.get("/api/entities")
    assert status == 200
    rows = {row["key"]: row for row in listing["entities"]}
    assert set(rows) >= {"alpha", "beta"}
    assert rows["alpha"]["statePreview"] == '{"count": 7, "operations": 2}'
    assert rows["alpha"]["stateSize"] == len(rows["alpha"]["statePreview"])
    times = [row["lastOperationTime"] for row in listing["entities"]]
    assert times == sorted(times, reverse=True)

    status, only = await stack.get("/api/entities", name="counter", top="1")
    assert status == 200 and len(only["entities"]) == 1 and only["top"] == 1


async def test_entity_errors(stack: DashboardStack) -> None:
    status, body = await stack.get("/api/entities/counter/never-signalled")
    assert status == 404 and body["error"]["type"] == "EntityNotFoundError"
    assert "@counter@never-signalled" in body["error"]["message"]

    status, body = await stack.post("/api/entities/no_such_entity/k/signal", {"operation": "add"})
    assert status == 400 and body["error"]["type"] == "FunctionNotFoundError"
    assert "counter" in body["error"]["message"]  # names the registered entities

    status, body = await stack.post("/api/entities/counter/k/signal", {})
    assert status == 400 and body["error"]["message"] == "operation: required"

    status, body = await stack.post("/api/entities/counter/k/signal", {"operation": 5})
    assert status == 400 and "operation: expected a string" in body["error"]["message"]

    status, body = await stack.get("/api/entities", bogus="1")
    assert status == 400 and "bogus" in body["error"]["message"]

    status, body = await stack.get("/api/entities", top="0")
    assert status == 400 and "top" in body["error"]["message"]

    # Actions need a JSON body, like every other dashboard POST.
    async with stack.session.post(stack.base_url + "/api/entities/counter/k/signal", data="operation=add") as response:
        assert response.status == 415
