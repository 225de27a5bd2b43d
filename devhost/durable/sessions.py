"""Orchestrator sessions: the SDK's orchestration (context, executor, generator) kept alive between
episodes of an instance, so an episode feeds the SDK only the events it has not seen instead of
replaying the whole history through it (what the Durable Task "extended sessions" do).

The SDK's handle (``Orchestrator.create``) builds a fresh context from the context JSON and replays the
history event by event (``TaskOrchestrationExecutor.process_event``). A session does the first episode
exactly that way, but keeps the context and executor; the next episode appends its events to the same
context and processes only those, in the order a full replay would see them (the previous episode's
scheduling events, then the new ones). The result text is the same cumulative OrchestratorState the full
replay produces. Only handles built by the SDK's ``Orchestrator.create`` (they carry
``orchestrator_function``) get sessions; anything else is called with the context JSON every time.

The engine keeps a session only while its cached ExecutionState is valid (it is dropped with it on any
store error, management operation, restart or end), and falls back to the full replay otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor

from devhost.durable import history as h
from devhost.durable.history import Event

#: Attribute of an orchestrator adapter that holds the SDK handle it wraps.
SDK_HANDLE_ATTR = "sdk_handle"


class Session:
    """One execution's live SDK orchestration."""

    def __init__(self, context: DurableOrchestrationContext, executor: TaskOrchestrationExecutor) -> None:
        self.context = context
        self.executor = executor
        #: Stored events of the last episode the SDK has not processed yet (its scheduling events).
        self.pending: list[Event] = []

    def resume(self, new_events: list[Event]) -> str:
        """Process the pending and the new events; the OrchestratorState JSON text (or raises, like the
        SDK's handle on the failure path)."""
        executor = self.executor
        histories = self.context.histories
        for played, events in ((True, self.pending), (False, new_events)):
            for event in events:
                if event["EventType"] not in h.SDK_READ_TYPES:
                    continue
                sdk_event = HistoryEvent(**{**event, "IsPlayed": played})
                histories.append(sdk_event)
                if executor.has_execution_completed:
                    continue
                # New events are past the SDK's replay boundary (what execute() tracks by index).
                executor._is_processing_new_events = not played
                executor.process_event(sdk_event)
        self.pending = []
        return executor.get_orchestrator_state_str()


def sdk_handle(handle: Callable[[str], str]) -> Any | None:
    """The SDK handle behind an orchestrator adapter when it supports sessions, else None."""
    inner = getattr(handle, SDK_HANDLE_ATTR, None)
    if inner is None or getattr(inner, "orchestrator_function", None) is None:
        return None
    return inner


def start(inner: Any, context_json: str) -> tuple[str | BaseException, Session]:
    """Run a full replay the way the SDK's handle does, keeping its context and executor."""
    context = DurableOrchestrationContext.from_json(context_json)
    context._input_expected_type = getattr(inner, "_df_input_type", None)
    executor = TaskOrchestrationExecutor()
    session = Session(context, executor)
    try:
        return executor.execute(context, context.histories, inner.orchestrator_function), session
    except Exception as exc:  # the SDK's failure path raises by design
        return exc, session
