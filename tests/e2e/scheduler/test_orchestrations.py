"""Orchestrations and activities end to end: the real durabletask client and worker against `devhost scheduler`
(StartInstance, GetInstance, WaitForInstanceStart/Completion, RaiseEvent, Terminate, Suspend/Resume, the
worker's GetWorkItems stream and its completions, timers, sub-orchestrations, continue-as-new)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from durabletask import client as dt_client
from durabletask import task

from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_worker
from tests.support.waiting import wait_until


def greet(ctx: task.ActivityContext, city: str) -> str:
    return f"Hello {city}!"


def explode(ctx: task.ActivityContext, what: str) -> str:
    raise ValueError(f"cannot greet {what}")


@orchestrator
def countdown(ctx: task.OrchestrationContext, n: int) -> Any:
    if n > 0:
        ctx.continue_as_new(n - 1)
        return None
    return "liftoff"


@orchestrator
def tour(ctx: task.OrchestrationContext, cities: list[str]) -> Any:
    chained = []
    for city in cities:
        chained.append((yield ctx.call_activity(greet, input=city)))
    fanned = yield task.when_all([ctx.call_activity(greet, input=str(i)) for i in range(5)])
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=1))
    ctx.set_custom_status({"waiting": "approval"})
    approval = yield ctx.wait_for_external_event("approval")
    child = yield ctx.call_sub_orchestrator(countdown, input=3)
    return {"chained": chained, "fanned": fanned, "approval": approval, "child": child}


@orchestrator
def waits_forever(ctx: task.OrchestrationContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("never")
    return value


@orchestrator
def fails_in_activity(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.call_activity(explode, input="Atlantis"))


@orchestrator
def echo(ctx: task.OrchestrationContext, value: Any) -> Any:
    return value


def test_a_full_orchestration_runs_through_every_kind_of_task(scheduler: DevHost):
    with running_worker(scheduler.port, tour, countdown, greet):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(tour, input=["Tokyo", "Seattle", "London"])
        started = sdk.wait_for_orchestration_start(instance_id, timeout=30)
        assert started is not None and started.runtime_status != dt_client.OrchestrationStatus.PENDING

        def custom_status() -> str | None:
            state = sdk.get_orchestration_state(instance_id)
            return state.serialized_custom_status if state is not None else None

        assert json.loads(wait_until(custom_status, 30, "the custom status") or "") == {"waiting": "approval"}
        sdk.raise_orchestration_event(instance_id, "approval", data={"by": "ops"})
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
    assert json.loads(state.serialized_output or "null") == {
        "chained": ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
        "fanned": [f"Hello {i}!" for i in range(5)],
        "approval": {"by": "ops"},
        "child": "liftoff",
    }
    assert json.loads(state.serialized_input or "null") == ["Tokyo", "Seattle", "London"]
    history = sdk.get_orchestration_history(instance_id)
    kinds = [type(event).__name__ for event in history]
    assert kinds.count("TaskScheduledEvent") == 8 and kinds.count("TaskCompletedEvent") == 8
    assert kinds.count("TimerCreatedEvent") == 1 and kinds.count("TimerFiredEvent") == 1
    assert "SubOrchestrationInstanceCreatedEvent" in kinds and "SubOrchestrationInstanceCompletedEvent" in kinds
    assert kinds[-1] == "ExecutionCompletedEvent"


def test_continue_as_new_starts_a_fresh_execution_with_the_new_input(scheduler: DevHost):
    with running_worker(scheduler.port, countdown):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(countdown, input=5)
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
    assert state.serialized_output == '"liftoff"'
    assert state.serialized_input == "0"  # the last execution's input
    assert len(sdk.get_orchestration_history(instance_id)) < 8  # only the last execution's events


def test_get_instance_with_and_without_payloads(scheduler: DevHost):
    with running_worker(scheduler.port, echo):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(echo, input={"n": 1})
        sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    full = sdk.get_orchestration_state(instance_id, fetch_payloads=True)
    bare = sdk.get_orchestration_state(instance_id, fetch_payloads=False)
    assert full is not None and bare is not None
    assert json.loads(full.serialized_input or "") == {"n": 1} and json.loads(full.serialized_output or "") == {"n": 1}
    assert bare.serialized_input is None and bare.serialized_output is None
    assert bare.name == "echo" and bare.runtime_status == dt_client.OrchestrationStatus.COMPLETED
    assert sdk.get_orchestration_state("no-such-instance") is None


def test_an_activity_failure_fails_the_orchestration_with_its_details(scheduler: DevHost):
    with running_worker(scheduler.port, fails_in_activity, explode):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(fails_in_activity)
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.FAILED
    assert state.failure_details is not None
    assert "cannot greet Atlantis" in state.failure_details.message
    failed = [e for e in sdk.get_orchestration_history(instance_id) if type(e).__name__ == "TaskFailedEvent"]
    assert len(failed) == 1


def test_suspend_holds_events_resume_releases_them_and_terminate_ends(scheduler: DevHost):
    with running_worker(scheduler.port, waits_forever):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(waits_forever)
        sdk.wait_for_orchestration_start(instance_id, timeout=30)
        sdk.suspend_orchestration(instance_id, reason="maintenance")
        sdk.suspend_orchestration(instance_id)  # idempotent, as in the reference backend
        state = sdk.get_orchestration_state(instance_id)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.SUSPENDED
        sdk.resume_orchestration(instance_id)
        state = sdk.get_orchestration_state(instance_id)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.RUNNING
        sdk.terminate_orchestration(instance_id, output="enough")
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.TERMINATED
    assert state.serialized_output == '"enough"'
    sdk.terminate_orchestration(instance_id)  # terminating an ended instance is a no-op


def test_wait_for_start_times_out_while_no_worker_runs_the_orchestrator(scheduler: DevHost):
    sdk = client(scheduler.port)
    instance_id = sdk.schedule_new_orchestration("nobody_runs_this")
    with pytest.raises(TimeoutError):
        sdk.wait_for_orchestration_start(instance_id, timeout=1)
    state = sdk.get_orchestration_state(instance_id)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.PENDING
    scheduler.wait_for_output("no connected worker takes orchestration 'nobody_runs_this'; its work waits")
    sdk.terminate_orchestration(instance_id)


def test_a_scheduled_start_waits_for_its_time(scheduler: DevHost):
    with running_worker(scheduler.port, echo):
        sdk = client(scheduler.port)
        start_at = datetime.now(UTC) + timedelta(seconds=2)
        instance_id = sdk.schedule_new_orchestration(echo, input=7, start_at=start_at)
        state = sdk.get_orchestration_state(instance_id)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.PENDING
        done = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert done is not None and done.serialized_output == "7"
    # The SDK gives naive UTC times.
    assert done.last_updated_at >= (start_at - timedelta(milliseconds=50)).replace(tzinfo=None)


def test_grpc_instances_show_in_the_dashboard(scheduler: DevHost):
    with running_worker(scheduler.port, echo):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(echo, input="seen")
        sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    with urllib.request.urlopen(f"{scheduler.dashboard_url}/api/instances/{instance_id}", timeout=10) as response:
        detail = json.loads(response.read())
    assert detail["name"] == "echo" and detail["runtimeStatus"] == "Completed"


def test_task_hubs_are_separate(scheduler: DevHost):
    with running_worker(scheduler.port, echo, taskhub="other"):
        other = client(scheduler.port, taskhub="other")
        instance_id = other.schedule_new_orchestration(echo, input=1)
        assert other.wait_for_orchestration_completion(instance_id, timeout=30) is not None
    assert client(scheduler.port).get_orchestration_state(instance_id) is None


@orchestrator
def sender(ctx: task.OrchestrationContext, target: str) -> Any:
    ctx.send_event(target, "ping", data={"from": ctx.instance_id})
    return "sent"


def test_an_orchestration_sends_an_event_to_another_instance(scheduler: DevHost):
    with running_worker(scheduler.port, sender, waits_for_ping):
        sdk = client(scheduler.port)
        receiver = sdk.schedule_new_orchestration(waits_for_ping, instance_id="ping-receiver")
        sdk.wait_for_orchestration_start(receiver, timeout=30)
        origin = sdk.schedule_new_orchestration(sender, input=receiver, instance_id="ping-sender")
        sent = sdk.wait_for_orchestration_completion(origin, timeout=30)
        received = sdk.wait_for_orchestration_completion(receiver, timeout=30)
    assert sent is not None and sent.serialized_output == '"sent"'
    assert received is not None and json.loads(received.serialized_output or "") == {"from": "ping-sender"}
    kinds = [type(event).__name__ for event in sdk.get_orchestration_history(origin)]
    assert kinds.count("EventSentEvent") == 1


@orchestrator
def waits_for_ping(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("ping"))


@orchestrator
def versioned(ctx: task.OrchestrationContext, _: Any) -> Any:
    return ctx.version


def test_the_version_a_client_gives_reaches_the_orchestrator(scheduler: DevHost):
    with running_worker(scheduler.port, versioned):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(versioned, version="2.1")
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.serialized_output == '"2.1"'
