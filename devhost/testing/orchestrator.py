"""run_orchestrator: one orchestration run in this process, through the real SDK's replay, without a host.

It drives the orchestrator as devhost's engine does (durable/replay.py's ``run_episode``: the whole history
replayed on every episode, the same determinism checks and failure messages), but the work each episode
schedules is done right here: activities are the test's callables, sub-orchestrations are run the same way,
durable timers fire at once in virtual time, and external events are delivered when the orchestrator waits
for them. Entities need the host (the ``durable_host`` fixture).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import inspect
import itertools
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devhost.durable import history as h
from devhost.durable.history import Event
from devhost.durable.protocol import ActionType
from devhost.durable.replay import (
    Decision,
    EpisodeInfo,
    ExecutionState,
    Outcome,
    SubOrchestrationWork,
    TimerWork,
    flatten_actions,
    parse_handle_result,
    run_episode,
)
from devhost.testing.functions import Activity, Orchestration, activity, orchestration
from devhost.worker.durable import activity_failure
from devhost.worker.sdk_internals import df_dumps, df_loads, orchestration_context

#: Episodes one run may take before it is stopped as a runaway (an endless continue_as_new loop, say).
MAX_EPISODES = 10_000


class OrchestrationStuckError(AssertionError):
    """The orchestrator waits for something run_orchestrator cannot deliver (an event not in `events`)."""


class UnsupportedInUnitRunError(AssertionError):
    """The orchestrator uses something only the host provides (entities, durable HTTP calls)."""


@dataclass
class OrchestrationResult:
    """How the run ended, and what the orchestrator did on the way."""

    name: str
    #: "Completed" or "Failed", as the host's runtimeStatus says it.
    status: str
    #: The orchestrator's return value (None when it failed).
    output: Any
    #: None, or the failure message the host would store (Non-Deterministic workflow detected: ... included).
    failure: str | None
    #: The last custom status the orchestrator set.
    custom_status: Any
    #: (name, input) of every activity and sub-orchestration it scheduled, in order (retries included).
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: The stored history of the last execution, as the host would keep it (protocol events).
    history: list[Event] = field(default_factory=list)
    #: The orchestration's clock when it ended (timers move it).
    now: datetime | None = None


EventsArg = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


def run_orchestrator(
    function: Any,
    input: Any = None,
    *,
    activities: Mapping[str, Any] | None = None,
    sub_orchestrators: Mapping[str, Any] | None = None,
    events: EventsArg = None,
    now: datetime | None = None,
    instance_id: str = "unit-run",
) -> OrchestrationResult:
    """Run `function` (the decorated orchestrator from function_app.py, or its generator function) to its end.

    activities: name -> callable taking the activity's input (raising fails its task, like a failed
    activity); sub_orchestrators: name -> orchestrator run the same way; events: name -> value (or
    (name, value) pairs, delivered in order) handed over when the orchestrator waits for that name; now:
    the orchestration's start time (default: the current time), moved forward by each timer that fires.
    """
    runner = _Runner(
        {name.lower(): activity(name, fn) for name, fn in (activities or {}).items()},
        {name.lower(): fn for name, fn in (sub_orchestrators or {}).items()},
    )
    start = now or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return runner.run(orchestration(function), input, _event_queue(events), start, instance_id)


def _event_queue(events: EventsArg) -> deque[tuple[str, Any]]:
    if events is None:
        return deque()
    if isinstance(events, Mapping):
        return deque(events.items())
    return deque((str(name), value) for name, value in events)


def _decode(text: str | None) -> Any:
    """A JSON payload as the SDK decodes it (custom classes with to_json/from_json too)."""
    if text is None:
        return None
    try:
        return df_loads(text)
    except ValueError:
        return text


def _call_sync(value: Any) -> Any:
    """The value, or what an awaitable resolves to (in a thread of its own when a loop already runs here)."""
    if not inspect.isawaitable(value):
        return value

    async def finish() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(finish())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, finish()).result()


class _CapturingHandle:
    """The SDK handle, called as the Python worker calls it; keeps its last answer (the open waits are in it)."""

    def __init__(self, handle: Callable[[Any], str]) -> None:
        self._handle = handle
        self.last: str | BaseException = ""

    def __call__(self, context_json: str) -> str:
        try:
            self.last = self._handle(orchestration_context(context_json))
        except Exception as exc:
            self.last = exc
            raise
        return self.last

    def waits(self) -> Counter[str]:
        """How often each external event name was waited for (cumulative over the execution)."""
        try:
            state, _ = parse_handle_result(self.last)
        except ValueError:
            return Counter()
        actions = flatten_actions(state.get("actions") or [], state.get("schemaVersion"))
        return Counter(
            str(action.get("externalEventName"))
            for action in actions
            if action.get("actionType") == ActionType.WAIT_FOR_EXTERNAL_EVENT
        )


class _Runner:
    def __init__(self, activities: dict[str, Activity], sub_orchestrators: dict[str, Any]) -> None:
        self.activities = activities
        self.sub_orchestrators = sub_orchestrators

    def run(
        self,
        target: Orchestration,
        input_value: Any,
        events: deque[tuple[str, Any]],
        start: datetime,
        instance_id: str,
    ) -> OrchestrationResult:
        handle = _CapturingHandle(target.handle)
        clock = start
        input_json = None if input_value is None else df_dumps(input_value)
        calls: list[tuple[str, Any]] = []
        custom_status: Any = None
        execution = itertools.count()
        while True:  # one execution per turn (continue_as_new starts the next)
            state = ExecutionState()
            info = EpisodeInfo(instance_id, target.name, input_json)
            stored: list[Event] = []
            timers: list[tuple[datetime, int, TimerWork]] = []
            delivered: Counter[str] = Counter()
            incoming = [
                h.execution_started(h.format_ts(clock), target.name, input_json, instance_id, f"exec-{next(execution)}")
            ]
            for _ in range(MAX_EPISODES):
                decision = run_episode(handle, state, info, incoming, clock)
                state.apply_events(decision.events)
                stored.extend(decision.events)
                if decision.custom_status is not None:
                    custom_status = _decode(decision.custom_status)
                if decision.outcome is not Outcome.RUNNING:
                    break
                clock = max(clock, h.parse_ts(state.last_started))
                incoming = self._do_work(decision, calls, clock, instance_id)
                for timer in decision.timers:
                    heapq.heappush(timers, (timer.fire_at, timer.timer_id, timer))
                if incoming:
                    continue
                incoming = _deliver_event(handle.waits(), delivered, events, clock)
                if incoming:
                    continue
                if not timers:
                    raise OrchestrationStuckError(_stuck_message(target.name, handle.waits() - delivered, decision))
                fire_at, _, first = heapq.heappop(timers)
                clock = max(clock, fire_at)
                due = [first]
                while timers and timers[0][0] <= clock:
                    due.append(heapq.heappop(timers)[2])
                incoming = [h.timer_fired(h.format_ts(clock), t.timer_id, t.fire_at_text) for t in due]
            else:
                raise OrchestrationStuckError(f"'{target.name}' ran {MAX_EPISODES} episodes without ending")
            if decision.outcome is Outcome.CONTINUED_AS_NEW:
                input_json = decision.continue_input
                continue
            return _result(target.name, decision, calls, custom_status, stored, clock)

    def _do_work(self, decision: Decision, calls: list[tuple[str, Any]], now: datetime, parent: str) -> list[Event]:
        """Run the episode's activities and sub-orchestrations now; their completion events, in order."""
        if decision.entity_messages:
            raise UnsupportedInUnitRunError(
                "run_orchestrator does not run durable entities; test this orchestrator with the durable_host fixture"
            )
        stamp = h.format_ts(now)
        completions: list[Event] = []
        for work in decision.activities:
            value = _decode(work.input)
            calls.append((work.name, value))
            completions.append(self._activity_event(work.name, work.task_id, value, stamp))
        for child in decision.sub_orchestrations:
            value = _decode(child.input)
            calls.append((child.name, value))
            completions.append(self._sub_orchestration_event(child, value, now, stamp))
        return completions

    def _activity_event(self, name: str, task_id: int, value: Any, stamp: str) -> Event:
        function = self.activities.get(name.lower())
        if function is None:
            # What the engine does with an activity the app does not define.
            known = ", ".join(sorted(self.activities)) or "none"
            reason = f"Activity function '{name}' does not exist."
            return h.task_failed(stamp, task_id, reason, f"Registered activity functions: {known}.")
        try:
            result = _call_sync(function(value))
            return h.task_completed(stamp, task_id, df_dumps(result))
        except Exception as exc:
            failure = activity_failure(name, exc)
            return h.task_failed(stamp, task_id, failure.reason, failure.details)

    def _sub_orchestration_event(self, child: SubOrchestrationWork, value: Any, now: datetime, stamp: str) -> Event:
        function = self.sub_orchestrators.get(child.name.lower())
        if function is None:
            known = ", ".join(sorted(self.sub_orchestrators)) or "none"
            reason = (
                f"The function '{child.name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Registered orchestrators: {known}."
            )
            return h.sub_orchestration_failed(stamp, child.task_id, reason, reason)
        result = self.run(orchestration(function), value, deque(), now, child.instance_id)
        if result.failure is not None:
            return h.sub_orchestration_failed(stamp, child.task_id, result.failure, result.failure)
        return h.sub_orchestration_completed(stamp, child.task_id, json.dumps(result.output))


def _deliver_event(
    waits: Counter[str], delivered: Counter[str], events: deque[tuple[str, Any]], now: datetime
) -> list[Event]:
    """The first queued event the orchestrator waits for (names compare case-insensitively, as in the SDK)."""
    open_waits = {name.lower() for name, count in waits.items() if count > delivered[name]}
    for index, (name, value) in enumerate(events):
        if name.lower() in open_waits:
            del events[index]
            waited = next(n for n in waits if n.lower() == name.lower())
            delivered[waited] += 1
            return [h.event_raised(h.format_ts(now), name, None if value is None else df_dumps(value))]
    return []


def _stuck_message(name: str, waiting: Counter[str], decision: Decision) -> str:
    names = sorted(n for n, count in waiting.items() if count > 0)
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        return (
            f"orchestrator '{name}' waits for external event {listed}, which events= does not hold "
            f"(pass events={{{names[0]!r}: ...}} to deliver it)"
        )
    detail = "; ".join(decision.diagnostics) or "it has no open task, timer or event wait"
    return f"orchestrator '{name}' cannot progress: {detail}"


def _result(
    name: str,
    decision: Decision,
    calls: list[tuple[str, Any]],
    custom_status: Any,
    stored: list[Event],
    clock: datetime,
) -> OrchestrationResult:
    if decision.outcome is Outcome.FAILED:
        return OrchestrationResult(name, "Failed", None, decision.failure_message, custom_status, calls, stored, clock)
    output = None if decision.output is None else json.loads(decision.output)
    return OrchestrationResult(name, "Completed", output, None, custom_status, calls, stored, clock)
