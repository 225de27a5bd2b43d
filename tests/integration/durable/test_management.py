"""Management operations: suspend/resume, terminate, rewind, restart, purge, queries."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from devhost.durable.models import InstanceQuery, RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.errors import InstanceNotFoundError, InstanceStateError, InvalidRequestError
from tests.integration.durable.conftest import Harness, client_body


async def test_suspend_holds_events_until_resume(harness: Harness) -> None:
    iid = await harness.engine.start_orchestration("event_orch")
    await harness.reached(iid, RuntimeStatus.RUNNING)
    await harness.engine.suspend(iid, "hold on")
    assert (await harness.engine.get_instance(iid)).runtime_status is RuntimeStatus.SUSPENDED  # type: ignore[union-attr]
    await harness.engine.raise_event(iid, "approval", '"held"')
    # The event is stored but not delivered: the instance stays suspended (bounded wait, nothing to poll for).
    still = await harness.engine.wait_for_instance(iid, 0.3)
    assert still is not None and still.runtime_status is RuntimeStatus.SUSPENDED
    await harness.engine.resume(iid, "go on")
    done = await harness.ended(iid)
    assert json.loads(done.output or "") == {"approval": "held"}
    types = [e["EventType"] for e in await harness.engine.get_history(iid)]
    assert EventType.EXECUTION_SUSPENDED in types and EventType.EXECUTION_RESUMED in types


async def test_terminate_ends_the_instance_and_refuses_further_operations(harness: Harness) -> None:
    iid = await harness.engine.start_orchestration("event_orch")
    await harness.reached(iid, RuntimeStatus.RUNNING)
    await harness.engine.terminate(iid, "enough")
    record = await harness.ended(iid)
    assert record.runtime_status is RuntimeStatus.TERMINATED
    assert json.loads(record.output or "") == "enough"
    with pytest.raises(InstanceStateError):
        await harness.engine.terminate(iid, "again")
    with pytest.raises(InstanceStateError):
        await harness.engine.raise_event(iid, "approval", "1")
    with pytest.raises(InstanceNotFoundError):
        await harness.engine.terminate("missing", None)
    with pytest.raises(InstanceNotFoundError):
        await harness.engine.raise_event("missing", "approval", "1")


async def test_rewind_retries_the_failed_task_only(harness: Harness) -> None:
    record = await harness.run("rewind_orch", json.dumps({"key": "rewind", "fail_times": 1}))
    assert record.runtime_status is RuntimeStatus.FAILED
    with pytest.raises(InstanceStateError):
        await harness.engine.rewind((await harness.run("chain")).instance_id, "not failed")
    await harness.engine.rewind(record.instance_id, "try again")
    done = await harness.ended(record.instance_id)
    assert done.runtime_status is RuntimeStatus.COMPLETED, done.failure_message
    assert json.loads(done.output or "") == ["Hello before!", "ok after 2"]
    history = await harness.engine.get_history(record.instance_id)
    assert sum(e["EventType"] == EventType.TASK_FAILED for e in history) == 0
    assert sum(e["EventType"] == EventType.TASK_COMPLETED for e in history) == 2  # 'hello' ran once


async def test_rewind_of_an_orchestrator_error_runs_it_again(harness: Harness) -> None:
    record = await harness.run("raising_orch")
    await harness.engine.rewind(record.instance_id, None)
    again = await harness.ended(record.instance_id)
    assert again.runtime_status is RuntimeStatus.FAILED
    assert again.failure_message == "Orchestrator function 'raising_orch' failed: orchestrator broke"


async def test_restart_with_new_and_same_id(harness: Harness) -> None:
    first = await harness.run("fan_out", "4", "restart-me")
    new_id = await harness.engine.restart("restart-me", True)
    assert new_id != "restart-me"
    restarted = await harness.ended(new_id)
    assert restarted.output == first.output and restarted.input == "4"
    same = await harness.engine.restart("restart-me", False)
    assert same == "restart-me"
    again = await harness.ended(same)
    assert again.execution_id != first.execution_id and again.output == first.output
    with pytest.raises(InstanceNotFoundError):
        await harness.engine.restart("nope")


async def test_purge_one_and_by_filter(harness: Harness) -> None:
    done = await harness.run("chain", None, "purge-1")
    running = await harness.engine.start_orchestration("event_orch", "purge-running")
    with pytest.raises(InstanceStateError):
        await harness.engine.purge_instance(running)
    assert await harness.engine.purge_instance(done.instance_id) == 1
    assert await harness.engine.get_instance(done.instance_id) is None
    assert await harness.engine.get_history(done.instance_id) == []
    assert await harness.engine.purge_instance(done.instance_id) == 0

    ended = [await harness.run("chain") for _ in range(3)]
    failed = await harness.run("raising_orch")
    start = min(r.created_time for r in ended) - timedelta(seconds=1)
    assert await harness.engine.purge_instances(start, None, frozenset({RuntimeStatus.FAILED})) == 1
    assert await harness.engine.get_instance(failed.instance_id) is None
    assert await harness.engine.purge_instances(start) == 3
    still = await harness.engine.get_instance(running)
    assert still is not None and still.runtime_status is RuntimeStatus.RUNNING


async def test_query_filters_and_keyset_paging(harness: Harness) -> None:
    ids = [(await harness.run("chain", None, f"q-{i}")).instance_id for i in range(5)]
    parent = await harness.run("parent_orch", None, "q-parent")
    pages: list[str] = []
    token = None
    while True:
        page = await harness.engine.query_instances(
            InstanceQuery(instance_id_prefix="q-", name="chain", page_size=2, continuation_token=token)
        )
        pages.extend(r.instance_id for r in page.instances)
        token = page.continuation_token
        if token is None:
            break
    assert pages == ids
    newest = await harness.engine.query_instances(
        InstanceQuery(instance_id_prefix="q-", name="chain", newest_first=True)
    )
    assert [r.instance_id for r in newest.instances] == list(reversed(ids))
    top = await harness.engine.query_instances(
        InstanceQuery(instance_id_prefix="q-parent", include_sub_orchestrations=False)
    )
    assert [r.instance_id for r in top.instances] == [parent.instance_id]
    everything = await harness.engine.query_instances(InstanceQuery(instance_id_prefix="q-parent"))
    assert len(everything.instances) == 4  # the parent and its three children
    failed = await harness.engine.query_instances(InstanceQuery(statuses=frozenset({RuntimeStatus.FAILED})))
    assert [r.instance_id for r in failed.instances] == ["q-parent-failing"]
    window = await harness.engine.query_instances(
        InstanceQuery(created_from=parent.created_time, created_to=parent.created_time, instance_id_prefix="q-")
    )
    assert [r.instance_id for r in window.instances] == ["q-parent"]
    with pytest.raises(InvalidRequestError):
        await harness.engine.query_instances(InstanceQuery(continuation_token="not-a-token"))


async def test_status_agrees_with_the_store_while_a_commit_is_being_acknowledged(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store shows an episode's outcome as soon as the writer commits, before the engine hears back;
    a status read in between must not answer from the engine's older cached row."""
    store = harness.engine._store
    loop = asyncio.get_running_loop()
    real_submit = store.submit

    def slow_submit(fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        # Commits happen at once; their acknowledgement reaches the engine 0.3 s later.
        inner, outer = real_submit(fn), loop.create_future()

        def relay(done: asyncio.Future[Any]) -> None:
            if outer.done():  # the engine stopped waiting (shutdown)
                return
            error = done.exception()
            if error is not None:
                outer.set_exception(error)
            else:
                outer.set_result(done.result())

        inner.add_done_callback(lambda done: loop.call_later(0.3, relay, done))
        return outer

    monkeypatch.setattr(store, "submit", slow_submit)
    instance_id = await harness.engine.start_orchestration("activity_fan", None, client_body(["where", 1]))
    observer = sqlite3.connect(store.path)
    try:

        def stored_status() -> str:
            row = observer.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            return str(row[0])

        seen: set[str] = set()
        deadline = loop.time() + 20
        while stored_status() != "Completed":
            assert loop.time() < deadline, "the instance did not complete"
            record = await harness.engine.get_instance(instance_id)
            assert record is not None
            seen.add(record.runtime_status.value)
            await asyncio.sleep(0.01)
        # Committed, not yet acknowledged (the engine still has the instance as running in its cache).
        assert instance_id in harness.engine._cache
        record = await harness.engine.get_instance(instance_id)
        assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED
        assert "Running" in seen
    finally:
        observer.close()
    await harness.ended(instance_id)
