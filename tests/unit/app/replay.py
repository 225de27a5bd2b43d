"""Build orchestration context JSON (durable-protocol.md 1.2-1.6) and replay it through the SDK's own handle."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import function_app

START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
ORCHESTRATOR_STARTED, EXECUTION_STARTED, TASK_SCHEDULED, TASK_COMPLETED, ORCHESTRATOR_COMPLETED = 12, 0, 4, 5, 13
TASK_FAILED = 6
CALL_ACTIVITY, WHEN_ALL = 0, 12


@functools.cache
def _registered() -> dict[str, Callable[..., Any]]:
    # The SDK indexes an app once: a second get_functions() call fails its duplicate-name check.
    return {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}


def user_function(name: str) -> Callable[..., Any]:
    """The callable the app registered for a function (for orchestrators: the SDK's handle)."""
    return _registered()[name]


def timestamp(moment: datetime) -> str:
    """Timestamp text as the host writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(event_type: int, moment: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """One history event; IsPlayed is filled in when the episode is assembled."""
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": timestamp(moment), **fields}


def context_json(instance_id: str, history: Sequence[dict[str, Any]], input_text: str | None) -> str:
    """The orchestration context the host sends, advertising replay schema V3 like the extension."""
    return json.dumps(
        {
            "history": list(history),
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": input_text,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


def flatten(actions: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The V3 action tree flattened depth-first: the order the SDK numbers tasks in."""
    flat: list[dict[str, Any]] = []

    def walk(action: dict[str, Any]) -> None:
        if action["actionType"] in (WHEN_ALL, 11):
            for child in action["compoundActions"]:
                walk(child)
        else:
            flat.append(action)

    for group in actions:
        for action in group:
            walk(action)
    return flat


@dataclass
class Replayer:
    """Drives one orchestration instance episode by episode, keeping the history a host would store."""

    orchestrator: str
    input_text: str | None = None
    instance_id: str = "test-instance"
    stored: list[dict[str, Any]] = field(default_factory=list)
    scheduled: int = 0
    clock: datetime = START

    def _tick(self) -> datetime:
        self.clock += timedelta(milliseconds=10)
        return self.clock

    def run_episode(self, incoming: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Run one episode with these new events; store it and its scheduling events; return the state."""
        if not self.stored:
            incoming = [
                event(EXECUTION_STARTED, self.clock, Name=self.orchestrator, Version="", Input=self.input_text),
                *incoming,
            ]
        started = event(ORCHESTRATOR_STARTED, self._tick())
        new_events = [started, *incoming]
        past = [{**e, "IsPlayed": True} for e in self.stored]
        handle = user_function(self.orchestrator)
        state = json.loads(handle(context_json(self.instance_id, past + new_events, self.input_text)))
        flat = flatten(state["actions"])
        scheduling = [
            event(TASK_SCHEDULED, self._tick(), event_id=i, Name=a["functionName"], Input=a["input"], Version="")
            for i, a in enumerate(flat)
            if i >= self.scheduled
        ]
        self.scheduled = len(flat)
        self.stored += [*new_events, *scheduling, event(ORCHESTRATOR_COMPLETED, self._tick())]
        return state

    def completion(self, task_id: int, result: Any) -> dict[str, Any]:
        """A TaskCompleted event for task `task_id` with this (JSON-serialisable) result."""
        return event(TASK_COMPLETED, self._tick(), TaskScheduledId=task_id, Result=json.dumps(result))

    def failure(self, task_id: int, reason: str, details: str) -> dict[str, Any]:
        """A TaskFailed event for task `task_id`."""
        return event(TASK_FAILED, self._tick(), TaskScheduledId=task_id, Reason=reason, Details=details)


def activity_inputs(state: dict[str, Any]) -> list[tuple[str, Any]]:
    """(function name, decoded input) of every CallActivity action in a state, in task-id order."""
    return [(a["functionName"], json.loads(a["input"])) for a in flatten(state["actions"])]
