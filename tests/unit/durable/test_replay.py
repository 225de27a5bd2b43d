"""The pure replay step driven through the real SDK handles of the durable_features test app.

Every episode replays the whole history through the SDK, as the worker does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from devhost.durable import history as h
from devhost.durable import replay as r
from devhost.durable.protocol import EventType
from tests.support.apps import import_test_app

#: Orchestrator handles (context JSON text in, OrchestratorState JSON text out) by function name.
Handles = dict[str, Any]


def load_app() -> ModuleType:
    """A fresh import of the durable_features test app."""
    return import_test_app("durable_features")


@pytest.fixture(scope="module")
def app_module() -> ModuleType:
    return load_app()


@pytest.fixture(scope="module")
def functions(app_module: ModuleType) -> Handles:
    handles: Handles = {}
    for function in app_module.app.get_functions():
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        if any(b.get("type") == "orchestrationTrigger" for b in bindings):
            handles[function.get_function_name()] = function.get_user_function()
    return handles


class Driver:
    """Runs episodes of one instance in memory: what the engine does, minus storage and dispatch."""

    def __init__(self, functions: Handles, name: str, input_json: str | None = None) -> None:
        self.handle = functions[name]
        self.state = r.ExecutionState()
        self.info = r.EpisodeInfo("inst-1", name, input_json)
        self.now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        self.history: list[dict[str, Any]] = []
        self.input_json = input_json

    def stamp(self) -> str:
        return h.format_ts(self.now)

    def episode(self, *incoming: dict[str, Any]) -> r.Decision:
        decision = r.run_episode(self.handle, self.state, self.info, list(incoming), self.now)
        self.state.apply_events(decision.events)
        self.history.extend(decision.events)
        self.now += timedelta(seconds=1)
        return decision

    def start(self, *more: dict[str, Any]) -> r.Decision:
        started = h.execution_started(self.stamp(), self.info.name, self.input_json, "inst-1", "exec-1")
        return self.episode(started, *more)

    def completed(self, task_id: int, value: Any) -> dict[str, Any]:
        return h.task_completed(self.stamp(), task_id, json.dumps(value))

    def failed(self, task_id: int, reason: str) -> dict[str, Any]:
        return h.task_failed(self.stamp(), task_id, reason, "details")


def scheduled(decision: r.Decision) -> list[tuple[int, int, str | None]]:
    return [
        (e["EventType"], e["EventId"], e.get("Name")) for e in decision.events if e["EventType"] in h.SCHEDULING_TYPES
    ]


def test_chaining_schedules_one_activity_per_episode_and_returns_all_results(functions: Handles) -> None:
    driver = Driver(functions, "chain")
    first = driver.start()
    assert [(a.task_id, a.name, a.input) for a in first.activities] == [(0, "hello", '"Tokyo"')]
    second = driver.episode(driver.completed(0, "Hello Tokyo!"))
    assert [a.task_id for a in second.activities] == [1]
    third = driver.episode(driver.completed(1, "Hello Seattle!"))
    assert [a.task_id for a in third.activities] == [2]
    last = driver.episode(driver.completed(2, "Hello London!"))
    assert last.outcome is r.Outcome.COMPLETED
    assert json.loads(last.output or "") == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    # History layout: every episode starts with OrchestratorStarted and ends with OrchestratorCompleted.
    types = [e["EventType"] for e in driver.history]
    assert types[:4] == [
        EventType.ORCHESTRATOR_STARTED,
        EventType.EXECUTION_STARTED,
        EventType.TASK_SCHEDULED,
        EventType.ORCHESTRATOR_COMPLETED,
    ]
    assert types[-1] == EventType.EXECUTION_COMPLETED
    assert types.count(EventType.ORCHESTRATOR_STARTED) == 4


def test_fan_out_completions_in_any_order_in_one_episode(functions: Handles) -> None:
    driver = Driver(functions, "fan_out", "3")
    first = driver.start()
    assert [a.task_id for a in first.activities] == [0, 1, 2]
    last = driver.episode(driver.completed(2, 4), driver.completed(0, 0), driver.completed(1, 2))
    assert last.outcome is r.Outcome.COMPLETED
    assert json.loads(last.output or "") == 6


def test_context_marks_only_the_current_episode_unplayed(functions: Handles) -> None:
    driver = Driver(functions, "chain")
    driver.start()
    prepared = r.prepare_episode(driver.state, "inst-1", [driver.completed(0, "x")], driver.now)
    context = json.loads(r.build_context_json(driver.state, driver.info, prepared.new_events))
    # As the extension sends it: V2 for SDKs before 1.3 (ReplaySchema has no V3 there), V3 for the others.
    assert (context["upperSchemaVersion"], context["upperSchemaVersionNew"]) == (1, 2)
    assert "maximumShortTimerDuration" not in context
    assert context["parentInstanceId"] is None
    played = [(e["EventType"], e["IsPlayed"]) for e in context["history"]]
    # TaskScheduled/OrchestratorCompleted are not sent: the SDK never reads them.
    assert played == [(12, True), (0, True), (12, False), (5, False)]


def test_retry_sequence_for_two_failed_attempts(functions: Handles) -> None:
    driver = Driver(functions, "retry_orch", json.dumps({"key": "k", "fail_times": 5, "max": 2}))
    first = driver.start()
    assert scheduled(first) == [(EventType.TASK_SCHEDULED, 0, "flaky")]
    second = driver.episode(driver.failed(0, "attempt 1 failed"))
    assert scheduled(second) == [(EventType.TIMER_CREATED, 1, None)]
    fire_at = second.timers[0].fire_at
    assert fire_at - h.parse_ts(second.events[0]["Timestamp"]) == timedelta(milliseconds=20)
    third = driver.episode(h.timer_fired(driver.stamp(), 1, second.timers[0].fire_at_text))
    assert scheduled(third) == [(EventType.TASK_SCHEDULED, 2, "flaky")]
    assert [a.task_id for a in third.activities] == [2]
    fourth = driver.episode(driver.failed(2, "attempt 2 failed"))
    assert scheduled(fourth) == [(EventType.TIMER_CREATED, 3, None)]
    last = driver.episode(h.timer_fired(driver.stamp(), 3, fourth.timers[0].fire_at_text))
    assert last.outcome is r.Outcome.COMPLETED
    assert json.loads(last.output or "") == "gave up: attempt 2 failed \n details"


def test_retry_then_success_and_new_work_in_the_same_episode_keeps_ids_in_sync(functions: Handles) -> None:
    driver = Driver(functions, "retry_orch", json.dumps({"key": "k2", "fail_times": 1, "max": 3}))
    driver.start()
    second = driver.episode(driver.failed(0, "attempt 1 failed"))
    third = driver.episode(h.timer_fired(driver.stamp(), 1, second.timers[0].fire_at_text))
    assert [a.task_id for a in third.activities] == [2]
    last = driver.episode(driver.completed(2, "ok after 2"))
    assert last.outcome is r.Outcome.COMPLETED
    assert json.loads(last.output or "") == "ok after 2"


def test_failure_path_fails_with_the_orchestrator_error(functions: Handles) -> None:
    driver = Driver(functions, "failing_orch")
    driver.start()
    decision = driver.episode(driver.failed(0, "Activity function 'always_fail' failed: ValueError: kaboom"))
    assert decision.outcome is r.Outcome.FAILED
    assert decision.failure_message is not None
    assert decision.failure_message.startswith("Orchestrator function 'failing_orch' failed: ")
    assert "ValueError: kaboom" in decision.failure_message
    assert decision.events[-1]["EventType"] == EventType.EXECUTION_COMPLETED
    assert decision.events[-1]["OrchestrationStatus"] == 3
    assert not decision.activities


def test_continue_as_new_carries_the_new_input(functions: Handles) -> None:
    driver = Driver(functions, "counter_loop", "0")
    driver.start()
    decision = driver.episode(driver.completed(0, 0))
    assert decision.outcome is r.Outcome.CONTINUED_AS_NEW
    assert decision.continue_input == "1"


def test_timer_uses_deterministic_episode_time(functions: Handles) -> None:
    driver = Driver(functions, "timer_orch")
    first = driver.start()
    assert len(first.timers) == 1
    start = h.parse_ts(first.events[0]["Timestamp"])
    assert first.timers[0].fire_at == start + timedelta(milliseconds=300)
    assert scheduled(first) == [(EventType.TIMER_CREATED, 0, None)]
    last = driver.episode(h.timer_fired(first.timers[0].fire_at_text, 0, first.timers[0].fire_at_text))
    # current_utc_datetime after the timer is the second episode's OrchestratorStarted time.
    assert json.loads(last.output or "") == 1.0


def test_external_event_raised_before_the_wait_is_delivered(functions: Handles) -> None:
    driver = Driver(functions, "event_orch")
    decision = driver.start(h.event_raised(driver.stamp(), "approval", '"yes"'))
    assert decision.outcome is r.Outcome.COMPLETED
    assert json.loads(decision.output or "") == {"approval": "yes"}


def test_external_event_raised_after_the_wait(functions: Handles) -> None:
    driver = Driver(functions, "event_orch")
    first = driver.start()
    assert first.outcome is r.Outcome.RUNNING and not first.diagnostics
    last = driver.episode(h.event_raised(driver.stamp(), "approval", "42"))
    assert json.loads(last.output or "") == {"approval": 42}


def test_new_uuid_and_time_are_stable_across_replays(functions: Handles) -> None:
    driver = Driver(functions, "deterministic_orch")
    first = driver.start()
    echoed = json.loads(first.activities[0].input or "")
    second = driver.episode(driver.completed(0, echoed))
    last = driver.episode(driver.completed(second.activities[0].task_id, "x"))
    assert json.loads(last.output or "") == {"same": True, "second": "x", "replaying": False}


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        (
            "nondeterministic",
            "A previous execution of this orchestration scheduled an activity task with sequence number 0 named "
            "'hello', but the current orchestration replay instead scheduled an activity task named 'echo' with "
            "this sequence number.",
        ),
        (
            "timer_instead",
            "A previous execution of this orchestration scheduled an activity task with sequence number 0 named "
            "'hello', but the current orchestration replay instead produced a CreateTimerOrchestratorAction "
            "action with this sequence number.",
        ),
        (
            "skip_call",
            "A previous execution of this orchestration scheduled an activity task with sequence ID 0 and name "
            "'hello', but the current replay execution hasn't (yet?) scheduled this task.",
        ),
    ],
)
def test_non_determinism_fails_on_the_episode_that_meets_it(
    app_module: ModuleType, functions: Handles, switch: str, expected: str
) -> None:
    """Another activity name, a timer where an activity was, and a missing call each fail the episode that
    replays over them, in DurableTask.Core's words (NonDeterministicOrchestrationException)."""
    driver = Driver(functions, "nondeterministic")
    driver.start()
    app_module.switches[switch] = True
    try:
        decision = driver.episode(driver.completed(0, "Hello a!"))
    finally:
        app_module.switches[switch] = False
    assert decision.outcome is r.Outcome.FAILED
    assert decision.failure_message == (
        f"Non-Deterministic workflow detected: {expected} Was a change made to the orchestrator code after this "
        "instance had already started running?"
    )


def test_unmatched_and_duplicate_completions_are_reported_not_delivered(functions: Handles) -> None:
    driver = Driver(functions, "chain")
    driver.start()
    decision = driver.episode(driver.completed(7, "nobody asked"))
    assert decision.outcome is r.Outcome.RUNNING
    assert any("task 7 matches no open task" in d for d in decision.diagnostics)
    ok = driver.episode(driver.completed(0, "Hello Tokyo!"))
    assert [a.task_id for a in ok.activities] == [1]
    duplicate = driver.episode(driver.completed(0, "again"))
    assert not duplicate.activities and duplicate.outcome is r.Outcome.RUNNING


def test_execution_state_rebuilt_from_history_matches_the_live_one(functions: Handles) -> None:
    driver = Driver(functions, "retry_orch", json.dumps({"key": "k3", "fail_times": 5, "max": 3}))
    driver.start()
    second = driver.episode(driver.failed(0, "boom"))
    rebuilt = r.ExecutionState.from_history(driver.history, driver.state.retry_json())
    assert rebuilt.next_id == driver.state.next_id == 2
    assert rebuilt.open_ids == driver.state.open_ids == {1}
    assert rebuilt.action_ids == [0]
    assert rebuilt.played_chunks == driver.state.played_chunks
    assert rebuilt.group_for_timer(second.timers[0].timer_id) is not None


def test_timestamps_roundtrip_and_dotnet_precision() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert h.format_ts(moment) == "2024-05-01T10:00:00.123456Z"
    assert h.parse_ts("2024-05-01T10:00:00.1234567Z") == moment
    assert h.from_us(h.to_us(moment)) == moment
