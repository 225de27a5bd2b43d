"""Instance management over gRPC: QueryInstances (filters, paging), ListInstanceIds, PurgeInstances (by id, by
filter, recursive), RestartInstance, RewindInstance, StreamInstanceHistory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from durabletask import client as dt_client
from durabletask import task

from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_worker

#: Flipped by the test: the activity fails until it is True (the worker runs in this process).
FIXED = {"value": False}


def flaky(ctx: task.ActivityContext, _: Any) -> str:
    if not FIXED["value"]:
        raise RuntimeError("not fixed yet")
    return "fixed"


@orchestrator
def needs_fix(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.call_activity(flaky))


@orchestrator
def doubled(ctx: task.OrchestrationContext, value: int) -> Any:
    return value * 2


@orchestrator
def parent(ctx: task.OrchestrationContext, value: int) -> Any:
    return (yield ctx.call_sub_orchestrator(doubled, input=value, instance_id=f"{ctx.instance_id}-child"))


def test_query_filters_and_pages_with_continuation_tokens(scheduler: DevHost):
    sdk = client(scheduler.port)
    since = datetime.now(UTC) - timedelta(seconds=1)
    with running_worker(scheduler.port, doubled):
        ids = [sdk.schedule_new_orchestration(doubled, input=i, instance_id=f"query-{i}") for i in range(5)]
        for instance_id in ids:
            sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    query = dt_client.OrchestrationQuery(
        created_time_from=since,
        runtime_status=[dt_client.OrchestrationStatus.COMPLETED],
        instance_id_prefix="query-",
        max_instance_count=2,
        fetch_inputs_and_outputs=True,
    )
    states = sdk.get_all_orchestration_states(query)  # three pages of at most 2
    assert sorted(s.instance_id for s in states) == ids
    assert {s.instance_id: json.loads(s.serialized_output or "") for s in states} == {
        f"query-{i}": i * 2 for i in range(5)
    }
    page = sdk.list_instance_ids(runtime_status=[dt_client.OrchestrationStatus.COMPLETED], page_size=3)
    seen = list(page.items)
    while page.continuation_token:
        page = sdk.list_instance_ids(
            runtime_status=[dt_client.OrchestrationStatus.COMPLETED],
            page_size=3,
            continuation_token=page.continuation_token,
        )
        seen.extend(page.items)
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))


def test_purge_by_id_recursive_and_by_filter(scheduler: DevHost):
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, parent, doubled):
        top = sdk.schedule_new_orchestration(parent, input=4, instance_id="purge-top")
        state = sdk.wait_for_orchestration_completion(top, timeout=30)
        assert state is not None and state.serialized_output == "8"
        assert sdk.get_orchestration_state("purge-top-child") is not None
        result = sdk.purge_orchestration(top, recursive=True)
        assert result.deleted_instance_count == 2
        assert sdk.get_orchestration_state(top) is None and sdk.get_orchestration_state("purge-top-child") is None
        later = sdk.schedule_new_orchestration(doubled, input=1, instance_id="purge-filter")
        sdk.wait_for_orchestration_completion(later, timeout=30)
    running = sdk.schedule_new_orchestration("nobody_runs_this", instance_id="purge-running")
    purged = sdk.purge_orchestrations_by(
        created_time_from=datetime.now(UTC) - timedelta(minutes=1),
        runtime_status=[dt_client.OrchestrationStatus.COMPLETED, dt_client.OrchestrationStatus.PENDING],
    )
    assert purged.deleted_instance_count >= 1
    assert sdk.get_orchestration_state(later) is None
    assert sdk.get_orchestration_state(running) is not None  # running (pending) instances are never purged
    sdk.terminate_orchestration(running)


def test_restart_with_the_same_or_a_new_id(scheduler: DevHost):
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, doubled):
        first = sdk.schedule_new_orchestration(doubled, input=21, instance_id="restart-me")
        sdk.wait_for_orchestration_completion(first, timeout=30)
        new_id = sdk.restart_orchestration(first, restart_with_new_instance_id=True)
        same_id = sdk.restart_orchestration(first)
        assert new_id != first and same_id == first
        for instance_id in (new_id, same_id):
            state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
            assert state is not None and state.serialized_output == "42"


def test_rewind_retries_the_failed_activity(scheduler: DevHost):
    sdk = client(scheduler.port)
    FIXED["value"] = False
    with running_worker(scheduler.port, needs_fix, flaky):
        instance_id = sdk.schedule_new_orchestration(needs_fix)
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.FAILED
        FIXED["value"] = True
        sdk.rewind_orchestration(instance_id, reason="fixed the activity")
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
    assert state.serialized_output == '"fixed"'


def test_stream_instance_history_gives_the_events_in_order(scheduler: DevHost):
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, parent, doubled):
        instance_id = sdk.schedule_new_orchestration(parent, input=3)
        sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    events = sdk.get_orchestration_history(instance_id)
    names = [type(event).__name__ for event in events]
    assert names[:2] == ["OrchestratorStartedEvent", "ExecutionStartedEvent"]
    assert "SubOrchestrationInstanceCreatedEvent" in names and names[-1] == "ExecutionCompletedEvent"
