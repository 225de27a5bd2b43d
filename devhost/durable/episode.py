"""What one orchestration episode (or management operation) writes: messages and cached state in,
an EpisodeCommit plus the work to dispatch after it commits out.

An episode is planned (``plan_episode``: which messages it consumes and the context JSON for the
orchestrator), the engine runs the orchestrator in a worker, and the plan is finished with the result
(``PendingEpisode.finish``). No I/O here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypedDict, Unpack

from devhost.durable import history as h
from devhost.durable import replay
from devhost.durable.history import Event, ParentInstance
from devhost.durable.models import DurableFunctions, EpisodeContext, RuntimeStatus
from devhost.durable.replay import Decision, ExecutionState, Outcome
from devhost.durable.store.queries import (
    ChildStart,
    EntityMessage,
    EpisodeCommit,
    InboxMessage,
    InstanceRow,
    InstanceUpdate,
    LockRelease,
    LockRequest,
    NewInstance,
    NewMessage,
    WorkItem,
)
from devhost.ids import random_uuid

log = logging.getLogger(__name__)

#: Inbox message kinds (queries.MessageKind).
KIND_START: Final = "start"
KIND_EVENT: Final = "event"

_STATUS_OF_OUTCOME = {
    Outcome.RUNNING: RuntimeStatus.RUNNING,
    Outcome.COMPLETED: RuntimeStatus.COMPLETED,
    Outcome.FAILED: RuntimeStatus.FAILED,
    Outcome.CONTINUED_AS_NEW: RuntimeStatus.CONTINUED_AS_NEW,
}


class RecordChanges(TypedDict, total=False):
    """InstanceRecord fields an episode or a management operation changes (see updated_row)."""

    execution_id: str
    runtime_status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    completed_time: datetime | None
    failure_message: str | None


class RowChanges(RecordChanges, total=False):
    """RecordChanges plus the engine-only part of the row: the persisted retry groups (InstanceRow.replay_state)."""

    replay_state: str | None


@dataclass
class CachedInstance:
    """The engine's in-memory copy of an instance (the store stays the truth)."""

    row: InstanceRow
    state: ExecutionState | None = None
    #: Seconds its last episode took (replay grows with history; the engine batches completions by it).
    episode_s: float = 0.0


@dataclass
class EpisodeOutcome:
    """An episode's commit and what to do once it is committed."""

    commit: EpisodeCommit | None = None
    row: InstanceRow | None = None
    state: ExecutionState | None = None
    ran_orchestrator: bool = False
    work_items: list[WorkItem] = field(default_factory=list)
    wakeups: list[tuple[str, int]] = field(default_factory=list)
    entity_ids: list[str] = field(default_factory=list)
    status_changed: bool = False


def new_execution_id() -> str:
    """A fresh execution id."""
    return random_uuid().hex


def client_context_input(input_json: str | None) -> str | None:
    """The orchestrator's input for a body sent by a client (durable-protocol.md 4.2).

    The SDK client double-encodes, so a JSON string whose content is JSON text carries the real input;
    any other body (a number, an object, a JSON string of plain text from curl) is the input itself.
    Raises ValueError when the body is not JSON.
    """
    if input_json is None:
        return None
    value = json.loads(input_json)
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return input_json
        return value
    return input_json


def start_message(
    instance_id: str,
    execution_id: str,
    name: str,
    input_json: str | None,
    now: datetime,
    parent: ParentInstance | None = None,
    version: str = "",
    tags: dict[str, str] | None = None,
) -> NewMessage:
    """The ExecutionStarted message that begins an execution (input_json: what get_input() decodes)."""
    event = h.execution_started(h.format_ts(now), name, input_json, instance_id, execution_id, parent, version, tags)
    return NewMessage(instance_id, execution_id, KIND_START, event, h.to_us(now))


def updated_row(row: InstanceRow, now: datetime, **changes: Unpack[RowChanges]) -> tuple[InstanceUpdate, InstanceRow]:
    """The InstanceUpdate for changed fields of a row, and the row as it will read afterwards."""
    replay_state = changes.pop("replay_state", row.replay_state)
    record_changes: RecordChanges = changes  # replay_state is popped: the rest are InstanceRecord fields
    record = dataclasses.replace(row.record, last_updated_time=now, **record_changes)
    update = InstanceUpdate(
        execution_id=record.execution_id,
        status=record.runtime_status,
        output=record.output,
        custom_status=record.custom_status,
        updated_us=h.to_us(now),
        completed_us=h.to_us(record.completed_time) if record.completed_time else None,
        failure_message=record.failure_message,
        replay_state=replay_state,
        input=record.input,
    )
    return update, dataclasses.replace(row, record=record, replay_state=replay_state)


def parent_notice(
    row: InstanceRow, now: datetime, result_json: str | None, failure: tuple[str, str] | None
) -> list[NewMessage]:
    """The completion message for the parent of a sub-orchestration that ended (none at top level)."""
    record = row.record
    if record.parent_instance_id is None or row.parent_task_id is None:
        return []
    stamp = h.format_ts(now)
    if failure is None:
        event = h.sub_orchestration_completed(stamp, row.parent_task_id, result_json or "null")
    else:
        event = h.sub_orchestration_failed(stamp, row.parent_task_id, failure[0], failure[1])
    return [NewMessage(record.parent_instance_id, row.parent_execution_id, KIND_EVENT, event, h.to_us(now))]


# ------------------------------------------------------------------------------------------------
# Episodes


@dataclass
class PendingEpisode:
    """An episode waiting for its orchestrator: what to send the worker, and how to finish with its answer."""

    function: str
    context: EpisodeContext
    finish: Callable[[str | BaseException], EpisodeOutcome]


def plan_episode(
    cached: CachedInstance,
    messages: list[InboxMessage],
    functions: DurableFunctions,
    history: list[Event] | None,
    new_work_id: Callable[[], int],
    now: datetime,
) -> EpisodeOutcome | PendingEpisode:
    """Consume an instance's visible messages: an outcome when no orchestrator needs to run, else the
    episode to run. history is the stored history; it is needed when cached.state is None."""
    row = cached.row
    record = row.record
    status = record.runtime_status
    outcome = EpisodeOutcome()
    dropped: list[int] = []
    consumed: list[int] = []
    incoming: list[Event] = []
    start: InboxMessage | None = None
    for message in messages:
        stale = message.execution_id is not None and message.execution_id != record.execution_id
        if stale or status.is_terminal:
            dropped.append(message.msg_id)
        elif status == RuntimeStatus.SUSPENDED:
            continue  # held until resume
        elif message.kind == KIND_START:
            start = message
            consumed.append(message.msg_id)
        else:
            incoming.append(message.payload)
            consumed.append(message.msg_id)

    state: ExecutionState | None
    if start is not None:
        state = ExecutionState()
        incoming.insert(0, start.payload)
    elif incoming:
        state = cached.state
        if state is None:
            state = ExecutionState.from_history(history or [], row.replay_state)
        if state.episodes == 0:
            # Not started yet (its ExecutionStarted is still invisible or held): keep the messages.
            incoming, consumed = [], []
    else:
        state = cached.state
    if not incoming:
        if dropped:
            outcome.commit = EpisodeCommit(record.instance_id, consumed=dropped)
        return outcome

    assert state is not None
    function = functions.orchestrator(record.name)
    # The context input is ExecutionStarted's Input (for client starts it differs from the stored input).
    context_input = start.payload.get("Input") if start is not None else state.input
    info = replay.EpisodeInfo(record.instance_id, record.name, context_input, record.parent_instance_id)
    started = start is not None

    def finish(decision: Decision, ran: bool) -> EpisodeOutcome:
        assert state is not None
        state.apply_events(decision.events)
        outcome.ran_orchestrator = ran
        _build_commit(outcome, cached, state, decision, dropped + consumed, started, functions, new_work_id, now)
        return outcome

    if function is None:
        return finish(_missing_orchestrator(record.name, state, incoming, now), False)
    prepared = replay.prepare_episode(state, info.instance_id, incoming, now)
    return PendingEpisode(
        function,
        replay.build_episode_context(state, info, prepared.new_events),
        lambda result: finish(replay.decide(state, info, prepared, result), True),
    )


def _missing_orchestrator(name: str, state: ExecutionState, incoming: list[Event], now: datetime) -> Decision:
    prepared = replay.prepare_episode(state, "", incoming, now)
    message = f"Orchestrator function '{name}' does not exist."
    return replay.finish_failed(prepared.decision, prepared, message, message)


def _build_commit(
    outcome: EpisodeOutcome,
    cached: CachedInstance,
    state: ExecutionState,
    decision: Decision,
    consumed: list[int],
    started: bool,
    functions: DurableFunctions,
    new_work_id: Callable[[], int],
    now: datetime,
) -> None:
    row = cached.row
    record = row.record
    iid = record.instance_id
    execution_id = record.execution_id
    now_us = h.to_us(now)
    commit = EpisodeCommit(iid, reset_history=started, history_chunk=decision.events, consumed=consumed)

    for activity in decision.activities:
        commit.work_items.append(
            WorkItem(new_work_id(), iid, execution_id, activity.task_id, activity.name, activity.input)
        )
    for timer in decision.timers:
        fired = h.timer_fired(timer.fire_at_text, timer.timer_id, timer.fire_at_text)
        visible = h.to_us(timer.fire_at)
        commit.messages.append(NewMessage(iid, execution_id, KIND_EVENT, fired, visible))
        if visible > now_us:
            outcome.wakeups.append((iid, visible))
    for sub in decision.sub_orchestrations:
        stamp = h.format_ts(now)
        if functions.orchestrator(sub.name) is None:
            missing = f"Orchestrator function '{sub.name}' does not exist."
            event = h.sub_orchestration_failed(stamp, sub.task_id, missing, missing)
            commit.messages.append(NewMessage(iid, execution_id, KIND_EVENT, event, now_us))
            continue
        child_execution = new_execution_id()
        parent: ParentInstance = {"InstanceId": iid, "ExecutionId": execution_id, "TaskScheduledId": sub.task_id}
        refusal = h.sub_orchestration_failed(
            stamp,
            sub.task_id,
            f"An orchestration instance with id '{sub.instance_id}' already exists and is still running.",
            None,
        )
        commit.children.append(
            ChildStart(
                NewInstance(
                    sub.instance_id, child_execution, sub.name, sub.input, now_us, iid, execution_id, sub.task_id
                ),
                start_message(sub.instance_id, child_execution, sub.name, sub.input, now, parent),
                NewMessage(iid, execution_id, KIND_EVENT, refusal, now_us),
            )
        )
    for sent in decision.events_sent:
        # To an instance that does not exist (or has ended) it is dropped there, as the reference backend does.
        raised = h.event_raised(h.format_ts(now), sent.name, sent.input)
        commit.messages.append(NewMessage(sent.instance_id, None, KIND_EVENT, raised, now_us))
    for entity in decision.entity_messages:
        commit.entity_messages.append(
            EntityMessage(
                entity.entity_id,
                entity.operation,
                entity.input,
                entity.request_id,
                iid if entity.request_id else None,
                execution_id if entity.request_id else None,
                visible_us=entity.visible_us,
            )
        )
        outcome.entity_ids.append(entity.entity_id)
    commit.lock_requests = [
        LockRequest(lock.critical_section_id, iid, execution_id, lock.lock_set) for lock in decision.lock_requests
    ]
    commit.lock_releases = [LockRelease(r.entity_id, r.critical_section_id) for r in decision.lock_releases]

    status = _STATUS_OF_OUTCOME[decision.outcome]
    changes: RowChanges = {"runtime_status": status, "custom_status": decision.custom_status}
    if decision.outcome == Outcome.RUNNING:
        changes["failure_message"] = "; ".join(decision.diagnostics) or None
        changes["replay_state"] = state.retry_json()
        outcome.state = state
    elif decision.outcome == Outcome.CONTINUED_AS_NEW:
        next_execution = new_execution_id()
        commit.reset_history = True
        commit.history_chunk = None
        commit.messages.append(
            start_message(iid, next_execution, record.name, decision.continue_input, now, _parent_ref(row))
        )
        # Carried-over events follow the start, before anything that arrives later (the reference backend's
        # order: OrchestratorStarted, ExecutionStarted, carryover, new arrivals).
        for event in decision.carryover_events:
            commit.messages.append(NewMessage(iid, next_execution, KIND_EVENT, event, now_us))
        changes.update(
            {
                "execution_id": next_execution,
                "input": decision.continue_input,
                "output": None,
                "replay_state": None,
                "failure_message": None,
            }
        )
        outcome.state = None
    else:
        failure = None
        if decision.outcome == Outcome.FAILED:
            failure = (decision.failure_message or "failed", decision.failure_details or "")
        changes.update(
            {
                "output": decision.output,
                "completed_time": now,
                "failure_message": decision.failure_message,
                "replay_state": state.retry_json(),
            }
        )
        commit.messages.extend(parent_notice(row, now, decision.output, failure))
        commit.drop_inbox = True
        commit.work_items.clear()
        commit.drop_work_items = True
        outcome.state = None
    update, new_row = updated_row(row, now, **changes)
    commit.update = update
    outcome.commit = commit
    outcome.row = new_row
    outcome.work_items = list(commit.work_items)
    outcome.status_changed = (
        record.runtime_status != status
        or record.custom_status != decision.custom_status
        or status.is_terminal
        or record.failure_message != new_row.record.failure_message
    )


def _parent_ref(row: InstanceRow) -> ParentInstance | None:
    if row.record.parent_instance_id is None:
        return None
    return {
        "InstanceId": row.record.parent_instance_id,
        "ExecutionId": row.parent_execution_id,
        "TaskScheduledId": row.parent_task_id,
    }
