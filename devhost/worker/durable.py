"""Orchestrator episodes, activities and entity batches as the Python worker runs them.

Each episode calls the SDK's orchestrator handle with the whole history (a full replay, as the Durable
extension sends it for out-of-process languages), so ``context.is_replaying`` and what runs how often
are what they are in Azure. The earlier episodes' events come parsed from what this worker kept of the
instance (history.py); the replay itself starts from the first event every time.
"""

from __future__ import annotations

import inspect
import json
import time
import traceback
from collections.abc import Callable
from typing import Any

from devhost.protocol.messages import ErrorInfo, PlayedHistory
from devhost.worker.history import KeptHistories
from devhost.worker.sdk_internals import df_dumps, df_loads, orchestration_context
from devhost.worker.sdk_speedups import ContextText


class ActivityError(Exception):
    """An activity raised: reason and details as the orchestrator sees them (TaskFailed)."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def info(self) -> ErrorInfo:
        """The wire form."""
        return ErrorInfo(type="ActivityError", message=self.reason, reason=self.reason, details=self.details)


def run_orchestrator(
    handle: Callable[[Any], str],
    context_json: str,
    histories: KeptHistories,
    instance_id: str,
    played: PlayedHistory | None,
) -> tuple[bool, str] | None:
    """One episode: (True, OrchestratorState JSON text) or (False, the text the handle raised); None when
    played builds on chunks this worker does not hold (the host sends them all again).

    The SDK's handle raises on the orchestrator's failure path by design, with its state after a marker.
    """
    text = context_json
    if played is not None:
        events = histories.played_events(instance_id, played)
        if events is None:
            return None
        text = ContextText.of(context_json, events)
    try:
        return True, handle(orchestration_context(text))
    except MemoryError:
        raise  # the worker cannot be trusted after it: it exits (main.py)
    except Exception as exc:
        return False, str(exc)


class EpisodeWatch:
    """Warns once about each orchestrator episode that runs longer than BLOCKING_EPISODE_S, while it runs.

    Azure says nothing about blocking orchestrator code; a local host should, since it holds up its
    instance and runs again on every replay.
    """

    #: An episode running longer than this gets the warning.
    BLOCKING_EPISODE_S = 1.0

    def __init__(self) -> None:
        #: Episodes running now: invocation id -> (function, instance id, time.monotonic() at start).
        self._running: dict[str, tuple[str, str, float]] = {}
        self._warned: set[str] = set()

    def run(self, invocation_id: str, function: str, instance_id: str, call: Callable[[], Any]) -> Any:
        """Run call (in the pool thread), watched."""
        self._running[invocation_id] = (function, instance_id, time.monotonic())
        try:
            return call()
        finally:
            self._running.pop(invocation_id, None)
            self._warned.discard(invocation_id)

    def overdue(self) -> list[str]:
        """Warnings for episodes that just went over the limit (each is reported once)."""
        now = time.monotonic()
        lines = []
        for invocation_id, (function, instance_id, started) in list(self._running.items()):
            if now - started > self.BLOCKING_EPISODE_S and invocation_id not in self._warned:
                self._warned.add(invocation_id)
                lines.append(
                    f"Orchestrator function '{function}' (instance '{instance_id}') has run for more than "
                    f"{self.BLOCKING_EPISODE_S:.0f} s in one episode: orchestrator code must not block or do I/O; "
                    "call an activity for that work (orchestrator code runs again on every replay)"
                )
        return lines


def decode_activity_input(input_json: str | None) -> Any:
    """The activity's argument; same rules as azure.functions' ActivityTriggerConverter.decode."""
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except json.JSONDecodeError:
        return input_json


def activity_input_name(bindings: list[dict[str, Any]]) -> str:
    """The parameter name the activityTrigger binds."""
    return next(str(b["name"]) for b in bindings if b.get("type") == "activityTrigger")


def activity_failure(function_name: str, exc: Exception) -> ActivityError:
    """The TaskFailed reason and details for an activity's exception."""
    return ActivityError(
        f"Activity function '{function_name}' failed: {type(exc).__name__}: {exc}",
        "".join(traceback.format_exception(exc)).rstrip(),
    )


def run_sync_activity(
    function_name: str, user_function: Callable[..., Any], input_name: str, input_json: str | None
) -> Any:
    """A sync activity in the calling thread: its result JSON text, or an awaitable it returned.

    Raises ActivityError when it fails.
    """
    try:
        result = user_function(**{input_name: decode_activity_input(input_json)})
        if inspect.isawaitable(result):
            return result
        return df_dumps(result)
    except MemoryError:
        raise  # the worker cannot be trusted after it: it exits (main.py)
    except Exception as exc:
        raise activity_failure(function_name, exc) from exc


async def finish_activity(function_name: str, pending: Any) -> str:
    """Await an async activity (or an awaitable a sync one returned) and encode its result."""
    try:
        result = await pending
        if inspect.isawaitable(result):
            result = await result
        return str(df_dumps(result))
    except MemoryError:
        raise
    except Exception as exc:
        raise activity_failure(function_name, exc) from exc


def run_entity(handle: Callable[[Any], str], request_json: str) -> str:
    """One entity batch through the SDK's entity handle: request JSON in, response JSON out."""
    return handle(request_json)
