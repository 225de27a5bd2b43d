"""devhost.testing.run_orchestrator: orchestrators run in process through the real SDK's replay."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import pytest

import function_app
from devhost.testing import OrchestrationStuckError, run_orchestrator

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def test_chaining_through_the_decorated_orchestrator_and_activity_from_function_app() -> None:
    result = run_orchestrator(
        function_app.chaining_orchestration, activities={"say_hello": function_app.say_hello}, now=START
    )
    assert result.status == "Completed"
    assert result.failure is None
    assert result.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert result.calls == [("say_hello", "Tokyo"), ("say_hello", "Seattle"), ("say_hello", "London")]


def test_fan_out_schedules_every_city_and_keeps_input_order() -> None:
    result = run_orchestrator(
        function_app.fan_out_fan_in_orchestration,
        {"cities": ["Oslo", "Lima", "Cairo"]},
        activities={"say_hello": lambda city: f"Hi {city}"},
    )
    assert result.output == ["Hi Oslo", "Hi Lima", "Hi Cairo"]
    assert [name for name, _ in result.calls] == ["say_hello"] * 3


def test_invalid_input_fails_with_the_hosts_message() -> None:
    result = run_orchestrator(function_app.chaining_orchestration, {"cities": []}, activities={"say_hello": str})
    assert result.status == "Failed"
    assert result.output is None
    assert result.failure == (
        "Orchestrator function 'chaining_orchestration' failed: cities must hold 1 to 10000 cities, got 0"
    )


def retrying(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
    started = context.current_utc_datetime
    value = yield context.call_activity_with_retry("flaky", options, "job")
    return {"value": value, "waited_s": (context.current_utc_datetime - started).total_seconds()}


def test_a_raising_activity_is_retried_by_the_retry_policy_in_virtual_time() -> None:
    attempts = itertools.count(1)

    def flaky(name: str) -> str:
        attempt = next(attempts)
        if attempt < 3:
            raise ConnectionError(f"attempt {attempt} failed")
        return f"{name} done on attempt {attempt}"

    result = run_orchestrator(retrying, activities={"flaky": flaky}, now=START)
    assert result.output == {"value": "job done on attempt 3", "waited_s": 120.0}
    assert result.calls == [("flaky", "job")] * 3


def catching(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", 1)
    except Exception as error:
        return f"caught: {error}"
    return "not raised"


def test_a_raising_activity_fails_its_task_like_a_failed_activity() -> None:
    def explode(value: int) -> None:
        raise ValueError(f"bad value {value}")

    result = run_orchestrator(catching, activities={"explode": explode})
    assert result.status == "Completed"
    # The message a failed activity's task carries in the host (devhost/worker/durable.py activity_failure).
    assert result.output.startswith("caught: Activity function 'explode' failed: ValueError: bad value 1")


def parent(context: df.DurableOrchestrationContext):
    greetings = yield context.call_sub_orchestrator("chaining_orchestration", {"cities": ["Rome"]})
    return {"child": greetings}


def test_a_sub_orchestration_runs_the_same_way() -> None:
    result = run_orchestrator(
        parent,
        activities={"say_hello": function_app.say_hello},
        sub_orchestrators={"chaining_orchestration": function_app.chaining_orchestration},
    )
    assert result.output == {"child": ["Hello Rome!"]}
    assert result.calls == [("chaining_orchestration", {"cities": ["Rome"]})]


def approval(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    deadline = context.create_timer(started + timedelta(hours=24))
    decision = context.wait_for_external_event("Approval")
    winner = yield context.task_any([decision, deadline])
    context.set_custom_status({"decided": winner == decision})
    if winner == decision:
        deadline.cancel()
        return {"approved": decision.result, "at": context.current_utc_datetime.isoformat()}
    return {"approved": None, "at": context.current_utc_datetime.isoformat()}


def test_an_event_is_delivered_when_the_orchestrator_waits_for_it() -> None:
    result = run_orchestrator(approval, events={"Approval": True}, now=START)
    assert result.output == {"approved": True, "at": START.isoformat()}
    assert result.custom_status == {"decided": True}


def test_without_the_event_the_24_hour_timer_fires_at_once_in_virtual_time() -> None:
    result = run_orchestrator(approval, now=START)
    assert result.output == {"approved": None, "at": (START + timedelta(hours=24)).isoformat()}
    assert result.custom_status == {"decided": False}
    assert result.now == START + timedelta(hours=24)


def waits_forever(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Go")
    return value


def test_an_event_wait_that_nothing_can_satisfy_is_reported_with_its_name() -> None:
    with pytest.raises(OrchestrationStuckError, match=r"waits for external event 'Go', which events= does not hold"):
        run_orchestrator(waits_forever, events={"Other": 1})


CALLS = itertools.count()


def nondeterministic(context: df.DurableOrchestrationContext):
    # Module state that changes on every replay: the classic non-determinism bug.
    first = yield context.call_activity("step_a" if next(CALLS) == 0 else "step_b", 1)
    second = yield context.call_activity("step_a", first)
    return second


def test_a_nondeterministic_orchestrator_fails_with_the_hosts_message() -> None:
    result = run_orchestrator(nondeterministic, activities={"step_a": int, "step_b": int})
    assert result.status == "Failed"
    assert result.failure == (
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence number 0 named 'step_a', but the current orchestration replay instead scheduled an activity "
        "task named 'step_b' with this sequence number. Was a change made to the orchestrator code after this "
        "instance had already started running?"
    )


def test_an_unknown_activity_fails_its_task_naming_the_ones_given() -> None:
    result = run_orchestrator(function_app.chaining_orchestration, activities={"wave": str})
    assert result.status == "Failed"
    assert "Activity function 'say_hello' does not exist." in (result.failure or "")


def test_something_that_is_not_an_orchestrator_is_refused() -> None:
    with pytest.raises(TypeError, match=r"'say_hello' is not an orchestrator \(its trigger is activityTrigger\)"):
        run_orchestrator(function_app.say_hello)
