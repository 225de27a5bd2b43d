"""The pure replay step (durable-protocol.md sections 1-2): history in, SDK context out; SDK result in,
decision out. No I/O here: the engine loads, stores and dispatches around it.

One episode = ``prepare_episode`` (orders the incoming events and hands out the ids the SDK takes
for retries), ``build_context_json`` (what the orchestrator handle receives), the handle call, and
``decide`` (turns the cumulative actions into only the new scheduling events and work).
``run_episode`` chains the four.

``ExecutionState`` is the host's bookkeeping of one execution. Everything in it is derived from the
stored history, except the retry groups (the SDK's retry timers and re-attempts are invisible in its
actions), which the engine persists next to the instance.
"""

from __future__ import annotations

import enum
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired, TypedDict

from devhost.durable import history as h
from devhost.durable.history import Event
from devhost.durable.models import EpisodeContext, JsonValue, RuntimeStatus
from devhost.durable.protocol import HTTP_ACTIVITY_NAME, ActionType, EventType
from devhost.ids import random_uuid

log = logging.getLogger(__name__)

OUT_OF_PROC_MARKER = "$OutOfProcData$:"
#: Advertised replay schema: V3 without the long-timer settings (durable-protocol.md 2.4), told as the
#: extension tells it: upperSchemaVersion V2 (1) for SDKs that know no more (azure-functions-durable 1.2.9's
#: ReplaySchema stops at V2 and fails on 2) and upperSchemaVersionNew V3 (2) for newer ones
#: (azure-functions-durable-extension, OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString).
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2

#: One action of the SDK's OrchestratorState (camelCase keys): wire data, so a plain dict like history events.
Action = dict[str, Any]


class OrchestratorState(TypedDict, total=False):
    """What the SDK's orchestrator handle returns (durable-protocol.md 2.1); the host reads every key as optional."""

    isDone: bool
    #: The cumulative actions, one list per yield (schema V1); from V2 on, all of them in the first list.
    actions: list[list[Action]]
    output: JsonValue
    error: str | None
    customStatus: JsonValue
    schemaVersion: int | None
    #: Not from the SDK: the output as JSON text to store as it is (the scheduler endpoint's workers send JSON
    #: text, or a large-payload token that is no JSON at all); wins over ``output``.
    outputJson: str


class EntityRequest(TypedDict):
    """The Input of an entity operation's EventSent: the entity's reply comes back as an event named by id."""

    id: str
    op: str
    signal: bool
    #: The sending instance.
    parent: str
    #: A lock request (durabletask's lock_entities): the whole set of entities to lock, and which of them the
    #: message is addressed to (Durable Functions' RequestMessage "lockset" and "pos").
    lockset: NotRequired[list[str]]
    pos: NotRequired[int]
    #: A lock release: the critical section ("id") gives this entity up.
    release: NotRequired[bool]


#: Not an SDK action type: an external event sent to another instance (durabletask's sendEvent, from the
#: scheduler endpoint's workers; devhost/scheduler/conversions.py). Recorded as EventSent like entity messages.
SEND_EVENT_ACTION = 100

#: Not SDK action types: a durabletask worker's entity lock request (entityLockRequested) and lock release
#: (entityUnlockSent). Recorded as EventSent in the Durable Functions shape: the request addressed to the first
#: entity of the set (named "op", as Durable Functions names entity requests), the release to each entity
#: (named "release"); the grant comes back as an EventRaised named by the critical section, like a call's reply.
LOCK_ENTITIES_ACTION = 101
RELEASE_LOCK_ACTION = 102
#: The EventSent names of lock requests and releases (DurableTask.Core's EntityMessageEventNames:
#: RequestMessageEventName "op", ReleaseMessageEventName "release").
LOCK_REQUEST_NAME = "op"
LOCK_RELEASE_NAME = "release"

#: Action type (as the SDK sends it, a plain int) -> the history event that records it.
_SCHEDULING_TYPE_OF_ACTION: dict[int, EventType] = {
    SEND_EVENT_ACTION: EventType.EVENT_SENT,
    LOCK_ENTITIES_ACTION: EventType.EVENT_SENT,
    RELEASE_LOCK_ACTION: EventType.EVENT_SENT,
    ActionType.CALL_ACTIVITY: EventType.TASK_SCHEDULED,
    ActionType.CALL_ACTIVITY_WITH_RETRY: EventType.TASK_SCHEDULED,
    ActionType.CALL_HTTP: EventType.TASK_SCHEDULED,
    ActionType.CALL_SUB_ORCHESTRATOR: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    ActionType.CREATE_TIMER: EventType.TIMER_CREATED,
    ActionType.CALL_ENTITY: EventType.EVENT_SENT,
    ActionType.SIGNAL_ENTITY: EventType.EVENT_SENT,
}


# --------------------------------------------------------------------------------------------------
# Bookkeeping


@dataclass
class RetryGroup:
    """A call_*_with_retry task: its attempts and the retry timer the SDK is waiting on."""

    kind: Literal["activity", "sub"]
    name: str
    input: str | None
    max_attempts: int
    interval_ms: int
    current_id: int
    attempts: int = 1
    instance_id: str | None = None  # sub-orchestration id chosen by the user, if any
    timer_id: int | None = None
    ids: list[int] = field(default_factory=list)  # ids the host handed out for this group's retries


@dataclass
class ExecutionState:
    """Host bookkeeping of one execution (see module docstring)."""

    next_id: int = 0
    #: Ids of the id-taking actions seen so far, in action order (retry ids excluded).
    action_ids: list[int] = field(default_factory=list)
    #: (EventType, lower-cased name) of every scheduling event, by id, for the determinism check.
    scheduled: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: Scheduled ids whose completion has not arrived.
    open_ids: set[int] = field(default_factory=set)
    #: Ids that ever completed (duplicates are dropped).
    completed_ids: set[int] = field(default_factory=set)
    #: Open entity calls: request id -> task id.
    entity_calls: dict[str, int] = field(default_factory=dict)
    retry_groups: list[RetryGroup] = field(default_factory=list)
    #: OrchestratorStarted events must never go back in time.
    last_started: str = ""
    #: Serialized SDK-relevant events of earlier episodes, IsPlayed true (one chunk per episode, the events
    #: joined with ','). Only ever appended to: a worker may keep the first n chunks parsed, under history_key.
    played_chunks: list[str] = field(default_factory=list)
    #: Names this state's played_chunks for the worker's cache of parsed history; a state rebuilt from the
    #: store (or a new execution) gets a new key, so a worker never extends chunks of another state.
    history_key: str = field(default_factory=lambda: random_uuid().hex)
    #: Number of episodes in this execution.
    episodes: int = 0
    #: The execution's input as the orchestrator reads it (ExecutionStarted's Input).
    input: str | None = None

    def take_id(self) -> int:
        """The next sequence id, in the order the SDK hands them out."""
        task_id = self.next_id
        self.next_id += 1
        return task_id

    # ---- derived lookups for retry groups
    def _retry_ids(self) -> set[int]:
        return {i for group in self.retry_groups for i in group.ids}

    def group_for_attempt(self, task_id: int) -> RetryGroup | None:
        """The retry group whose current attempt is task_id."""
        for group in self.retry_groups:
            if group.current_id == task_id and group.timer_id is None:
                return group
        return None

    def group_for_timer(self, timer_id: int) -> RetryGroup | None:
        """The retry group waiting on timer timer_id."""
        for group in self.retry_groups:
            if group.timer_id == timer_id:
                return group
        return None

    # ---- persistence
    def retry_json(self) -> str | None:
        """The persisted part (retry groups) as JSON text, None when there are none."""
        if not self.retry_groups:
            return None
        return json.dumps([asdict(group) for group in self.retry_groups])

    @classmethod
    def from_history(cls, events: list[Event], retry_json: str | None) -> ExecutionState:
        """Rebuild the bookkeeping of an execution from its stored history and retry groups."""
        state = cls()
        if retry_json:
            state.retry_groups = [RetryGroup(**item) for item in json.loads(retry_json)]
        retry_ids = state._retry_ids()
        # Split the stored history into episodes so played chunks match what episodes produced.
        episode: list[Event] = []
        for event in events:
            if event["EventType"] == EventType.ORCHESTRATOR_STARTED and episode:
                state.apply_events(episode, retry_ids)
                episode = []
            episode.append(event)
        if episode:
            state.apply_events(episode, retry_ids)
        return state

    def apply_events(self, events: list[Event], retry_ids: set[int] | None = None) -> None:
        """Account for one stored episode's events (after it was committed)."""
        if retry_ids is None:
            retry_ids = self._retry_ids()
        played: list[str] = []
        for event in events:
            event_type = event["EventType"]
            if event_type == EventType.EXECUTION_STARTED:
                self.input = event.get("Input")
            elif event_type == EventType.ORCHESTRATOR_STARTED:
                self.episodes += 1
                self.last_started = max(self.last_started, event["Timestamp"])
            if event_type in h.SCHEDULING_TYPES:
                task_id = int(event["EventId"])
                self.next_id = max(self.next_id, task_id + 1)
                self.scheduled[task_id] = (event_type, str(event.get("Name") or "").lower())
                if task_id not in retry_ids:
                    self.action_ids.append(task_id)
                if event_type != EventType.EVENT_SENT:
                    self.open_ids.add(task_id)
                elif str(event.get("InstanceId") or "").startswith("@"):  # an entity message, not an event
                    request = _entity_request(event)
                    if request is not None and not request.get("signal", False):
                        self.entity_calls[str(request["id"])] = task_id
                        self.open_ids.add(task_id)
            elif event_type in h.COMPLETION_TYPES:
                key = h.completion_key(event)
                if event_type == EventType.EVENT_RAISED:
                    call_id = self.entity_calls.pop(str(key), None)
                    if call_id is not None:
                        self.open_ids.discard(call_id)
                        self.completed_ids.add(call_id)
                elif isinstance(key, int):
                    self.open_ids.discard(key)
                    self.completed_ids.add(key)
            if event_type in h.SDK_READ_TYPES:
                played.append(json.dumps({"IsPlayed": True, **event}, separators=(",", ":")))
        if played:
            self.played_chunks.append(",".join(played))


def _entity_request(event: Event) -> EntityRequest | None:
    try:
        value: EntityRequest | None = json.loads(event.get("Input") or "null")
    except ValueError:
        return None
    return value if isinstance(value, dict) and "id" in value else None


# --------------------------------------------------------------------------------------------------
# Work records


@dataclass(frozen=True)
class ActivityWork:
    """Run activity `name` with `input` (JSON text); its result completes task `task_id`."""

    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class TimerWork:
    """Deliver TimerFired for `timer_id` at `fire_at`."""

    timer_id: int
    fire_at: datetime
    fire_at_text: str


@dataclass(frozen=True)
class SubOrchestrationWork:
    """Start child `instance_id` running orchestrator `name`; its outcome completes `task_id`."""

    task_id: int
    name: str
    instance_id: str
    input: str | None


@dataclass(frozen=True)
class EventWork:
    """Deliver external event `name` with `input` (JSON text) to instance `instance_id`."""

    instance_id: str
    name: str
    input: str | None


@dataclass(frozen=True)
class EntityWork:
    """An operation for entity `entity_id` ('@name@key'); request_id is set for calls (a reply is due)."""

    entity_id: str
    operation: str
    #: The operation input as the entity SDK reads it: JSON text whose value is JSON text.
    input: str
    request_id: str | None
    #: When a scheduled signal becomes due (UTC microseconds); None: at once.
    visible_us: int | None = None


@dataclass(frozen=True)
class LockWork:
    """Lock every entity of `lock_set` for critical section `critical_section_id` (granted all at once)."""

    critical_section_id: str
    lock_set: list[str]


@dataclass(frozen=True)
class ReleaseWork:
    """Release entity `entity_id` from critical section `critical_section_id`."""

    entity_id: str
    critical_section_id: str


class Outcome(enum.Enum):
    """How an episode left the execution."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CONTINUED_AS_NEW = "continued_as_new"


@dataclass
class Decision:
    """Everything one episode decided; the engine commits it in one transaction, then dispatches."""

    outcome: Outcome = Outcome.RUNNING
    #: This episode's events to append to the stored history, in order.
    events: list[Event] = field(default_factory=list)
    activities: list[ActivityWork] = field(default_factory=list)
    timers: list[TimerWork] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationWork] = field(default_factory=list)
    entity_messages: list[EntityWork] = field(default_factory=list)
    events_sent: list[EventWork] = field(default_factory=list)
    lock_requests: list[LockWork] = field(default_factory=list)
    lock_releases: list[ReleaseWork] = field(default_factory=list)
    #: JSON text of the orchestrator's return value (None when it returned None).
    output: str | None = None
    failure_message: str | None = None
    failure_details: str | None = None
    custom_status: str | None = None
    #: Input (JSON text) of the next execution when continuing as new.
    continue_input: str | None = None
    #: Events the next execution gets right after its ExecutionStarted (a gRPC worker's carryoverEvents).
    carryover_events: list[Event] = field(default_factory=list)
    #: Human-readable problems that keep the instance from progressing (logged as warnings).
    diagnostics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EpisodeInfo:
    """What replay needs to know about the instance besides its history."""

    instance_id: str
    name: str
    input: str | None
    parent_instance_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Step 1: incoming events


@dataclass
class PreparedEpisode:
    """Ordered new events of an episode (first one OrchestratorStarted) plus retry decisions."""

    timestamp: str
    now: datetime
    new_events: list[Event]
    retry_events: list[Event] = field(default_factory=list)
    decision: Decision = field(default_factory=Decision)


def prepare_episode(state: ExecutionState, instance_id: str, incoming: list[Event], now: datetime) -> PreparedEpisode:
    """Order incoming events, drop duplicates, and hand out retry ids (durable-protocol.md 2.5.5).

    Events that make the SDK take an id for a retry (a failed attempt, a fired retry timer with
    attempts left) never resume the generator, so delivering them first keeps the SDK's id order
    equal to ours: retry ids, then the ids of whatever this episode's other events make it yield.
    """
    timestamp = max(h.format_ts(now), state.last_started)
    prepared = PreparedEpisode(timestamp=timestamp, now=h.parse_ts(timestamp), new_events=[])
    decision = prepared.decision
    retry_first: list[Event] = []
    others: list[Event] = []
    seen_keys: set[int] = set()
    for event in incoming:
        event_type = event["EventType"]
        key = h.completion_key(event)
        if event_type in h.COMPLETION_TYPES and event_type != EventType.EVENT_RAISED and isinstance(key, int):
            if key in seen_keys or key in state.completed_ids:
                log.warning(
                    "Orchestration '%s': dropped duplicate %s for task %s",
                    instance_id,
                    EventType(event_type).history_name,
                    key,
                )
                continue
            if key not in state.open_ids:
                message = (
                    f"{EventType(event_type).history_name} for task {key} matches no open task of instance "
                    f"'{instance_id}' (scheduled ids: 0..{state.next_id - 1})"
                )
                log.warning("Orchestration '%s' cannot use an event: %s", instance_id, message)
                decision.diagnostics.append(message)
                continue
            seen_keys.add(key)
            if _allocates_retry_id(state, event):
                retry_first.append(event)
                continue
            if event_type == EventType.TIMER_FIRED:
                exhausted = state.group_for_timer(key)
                if exhausted is not None:
                    # Last retry timer: the SDK now throws the attempt's error into the generator.
                    exhausted.timer_id = None
        others.append(event)
    for event in retry_first:
        _apply_retry(state, instance_id, event, prepared)
    prepared.new_events = [h.orchestrator_started(timestamp), *retry_first, *others]
    return prepared


def _allocates_retry_id(state: ExecutionState, event: Event) -> bool:
    event_type = event["EventType"]
    if event_type in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
        return state.group_for_attempt(int(event["TaskScheduledId"])) is not None
    if event_type == EventType.TIMER_FIRED:
        group = state.group_for_timer(int(event["TimerId"]))
        return group is not None and group.attempts < group.max_attempts
    return False


def _apply_retry(state: ExecutionState, instance_id: str, event: Event, prepared: PreparedEpisode) -> None:
    decision = prepared.decision
    if event["EventType"] == EventType.TIMER_FIRED:
        group = state.group_for_timer(int(event["TimerId"]))
        assert group is not None
        task_id = state.take_id()
        group.ids.append(task_id)
        group.timer_id = None
        group.attempts += 1
        group.current_id = task_id
        if group.kind == "activity":
            prepared.retry_events.append(h.task_scheduled(prepared.timestamp, task_id, group.name, group.input))
            decision.activities.append(ActivityWork(task_id, group.name, group.input))
        else:
            child = group.instance_id or f"{instance_id}:{task_id}"
            prepared.retry_events.append(
                h.sub_orchestration_created(prepared.timestamp, task_id, group.name, child, group.input)
            )
            decision.sub_orchestrations.append(SubOrchestrationWork(task_id, group.name, child, group.input))
        return
    found = state.group_for_attempt(int(event["TaskScheduledId"]))
    assert found is not None
    timer_id = state.take_id()
    found.ids.append(timer_id)
    found.timer_id = timer_id
    fire_at = prepared.now + timedelta(milliseconds=found.interval_ms)
    fire_text = h.format_ts(fire_at)
    prepared.retry_events.append(h.timer_created(prepared.timestamp, timer_id, fire_text))
    decision.timers.append(TimerWork(timer_id, fire_at, fire_text))


# --------------------------------------------------------------------------------------------------
# Step 2: the context


def serialize_new_events(events: list[Event]) -> str:
    """This episode's SDK-relevant events with IsPlayed false, comma-joined."""
    return ",".join(
        json.dumps({"IsPlayed": False, **event}, separators=(",", ":"))
        for event in events
        if event["EventType"] in h.SDK_READ_TYPES
    )


def build_episode_context(state: ExecutionState, info: EpisodeInfo, new_events: list[Event]) -> EpisodeContext:
    """The episode's orchestration context (durable-protocol.md 1.2): the state's played chunks, which earlier
    episodes serialized once, and this episode's events."""
    rest = json.dumps(
        {
            "instanceId": info.instance_id,
            "isReplaying": False,
            "parentInstanceId": info.parent_instance_id,
            "input": info.input,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
        }
    )
    current = '{"history":[' + serialize_new_events(new_events) + "]," + rest[1:]
    return EpisodeContext(state.history_key, tuple(state.played_chunks), current)


def build_context_json(state: ExecutionState, info: EpisodeInfo, new_events: list[Event]) -> str:
    """The whole context JSON text for the SDK handle, as the extension sends it."""
    return build_episode_context(state, info, new_events).full_json()


# --------------------------------------------------------------------------------------------------
# Step 3: the decision


def flatten_actions(actions: list[list[Action]], schema_version: int | None) -> list[Action]:
    """Flatten the SDK's cumulative actions into yield order (compound children depth first)."""
    if not actions:
        return []
    groups = actions[:1] if schema_version is not None else actions
    flat: list[Action] = []

    def walk(items: list[Action]) -> None:
        for action in items:
            if action.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
                walk(action.get("compoundActions") or [])
            else:
                flat.append(action)

    for group in groups:
        walk(group)
    return flat


def _id_taking(actions: list[Action]) -> Iterator[Action]:
    for action in actions:
        if action.get("actionType") not in (ActionType.WAIT_FOR_EXTERNAL_EVENT, ActionType.CONTINUE_AS_NEW):
            yield action


def _action_name(action: Action) -> str:
    action_type = action.get("actionType")
    if action_type == ActionType.CALL_HTTP:
        return HTTP_ACTIVITY_NAME.lower()
    if action_type in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
        return str(action.get("operation") or "").lower()
    if action_type == SEND_EVENT_ACTION:
        return str(action.get("eventName") or "").lower()
    if action_type == LOCK_ENTITIES_ACTION:
        return LOCK_REQUEST_NAME
    if action_type == RELEASE_LOCK_ACTION:
        return LOCK_RELEASE_NAME
    if action_type == ActionType.CREATE_TIMER:
        return ""
    return str(action.get("functionName") or "").lower()


#: How DurableTask.Core names what a history event scheduled, and the action a replay produced instead.
_SCHEDULED_KIND: dict[int, str] = {
    EventType.TASK_SCHEDULED: "an activity task",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "a sub-orchestration task",
    EventType.TIMER_CREATED: "a timer task",
    EventType.EVENT_SENT: "an entity operation",
}
_ACTION_CLASS: dict[int, str] = {
    EventType.TASK_SCHEDULED: "ScheduleTaskOrchestratorAction",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "CreateSubOrchestrationAction",
    EventType.TIMER_CREATED: "CreateTimerOrchestratorAction",
    EventType.EVENT_SENT: "SendEventOrchestratorAction",
}
_CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"
NON_DETERMINISTIC = "Non-Deterministic workflow detected: "


def _named(name: str) -> str:
    return f" named '{name}'" if name else ""


def _mismatch_message(task_id: int, stored: tuple[int, str], wanted: tuple[int, str]) -> str:
    """The orchestration's failure when replay asks for something else than the history recorded at task_id,
    worded as DurableTask.Core's NonDeterministicOrchestrationException (TaskOrchestrationContext.cs)."""
    (stored_type, stored_name), (wanted_type, wanted_name) = stored, wanted
    recorded = (
        f"A previous execution of this orchestration scheduled {_SCHEDULED_KIND.get(stored_type, 'a task')} with "
        f"sequence number {task_id}{_named(stored_name)}, but the current orchestration replay instead "
    )
    if stored_type == wanted_type:
        kind = _SCHEDULED_KIND.get(wanted_type, "a task")
        asked = f"scheduled {kind}{_named(wanted_name)} with this sequence number."
    else:
        action = _ACTION_CLASS.get(wanted_type, "unknown")
        asked = f"produced a {action} action{_named(wanted_name)} with this sequence number."
    return f"{NON_DETERMINISTIC}{recorded}{asked} {_CHANGED}"


def _missing_message(task_id: int, stored: tuple[int, str]) -> str:
    stored_type, stored_name = stored
    name = f" and name '{stored_name}'" if stored_name else ""
    return (
        f"{NON_DETERMINISTIC}A previous execution of this orchestration scheduled "
        f"{_SCHEDULED_KIND.get(stored_type, 'a task')} with sequence ID {task_id}{name}, but the current replay "
        f"execution hasn't (yet?) scheduled this task. {_CHANGED}"
    )


def parse_handle_result(result: str | BaseException) -> tuple[OrchestratorState, str | None]:
    """The OrchestratorState dict and, on the failure path, the error text (durable-protocol.md 2.2)."""
    if isinstance(result, BaseException):
        text = str(result)
        marker = text.find(OUT_OF_PROC_MARKER)
        if marker < 0:
            return {"isDone": False, "actions": []}, text or type(result).__name__
        state: OrchestratorState = json.loads(text[marker + len(OUT_OF_PROC_MARKER) :])
        error = state.get("error") or text[:marker].rstrip()
        return state, str(error)
    return json.loads(result), None


def decide(
    state: ExecutionState,
    info: EpisodeInfo,
    prepared: PreparedEpisode,
    result: str | BaseException,
) -> Decision:
    """Turn the handle's result into this episode's decision and advance the bookkeeping ids."""
    decision = prepared.decision
    timestamp = prepared.timestamp
    scheduling: list[Event] = list(prepared.retry_events)
    try:
        orchestrator_state, error = parse_handle_result(result)
    except ValueError as exc:
        orchestrator_state, error = {"isDone": False, "actions": []}, f"unreadable orchestrator result: {exc}"
    if "customStatus" in orchestrator_state:
        decision.custom_status = json.dumps(orchestrator_state["customStatus"])
    actions = flatten_actions(orchestrator_state.get("actions") or [], orchestrator_state.get("schemaVersion"))
    if error is not None:
        # Failure path: keep what was scheduled before, schedule nothing new.
        message = f"Orchestrator function '{info.name}' failed: {error}"
        return finish_failed(decision, prepared, message, error)

    id_actions = list(_id_taking(actions))
    seen = len(state.action_ids)
    for index, action in enumerate(id_actions[:seen]):
        task_id = state.action_ids[index]
        stored = state.scheduled.get(task_id, (-1, ""))
        wanted = (_SCHEDULING_TYPE_OF_ACTION.get(int(action.get("actionType", -1)), -2), _action_name(action))
        if stored[0] != wanted[0] or (wanted[1] and stored[1] != wanted[1]):
            message = _mismatch_message(task_id, stored, wanted)
            return finish_failed(decision, prepared, message, message)
    if len(id_actions) < seen:
        # The replay ran past (or ended before) a step the history has: that step's call is gone.
        task_id = state.action_ids[len(id_actions)]
        message = _missing_message(task_id, state.scheduled.get(task_id, (-1, "")))
        return finish_failed(decision, prepared, message, message)

    waits = any(a.get("actionType") == ActionType.WAIT_FOR_EXTERNAL_EVENT for a in actions)
    for action in id_actions[seen:]:
        scheduling.append(_schedule(state, info, action, state.take_id(), timestamp, decision))

    is_done = bool(orchestrator_state.get("isDone"))
    continue_action = next((a for a in actions if a.get("actionType") == ActionType.CONTINUE_AS_NEW), None)
    decision.events = [*prepared.new_events, *scheduling, h.orchestrator_completed(timestamp)]
    if is_done and continue_action is not None:
        decision.outcome = Outcome.CONTINUED_AS_NEW
        decision.continue_input = continue_action.get("input")
        decision.carryover_events = list(continue_action.get("carryoverEvents") or [])
        # Work scheduled together with continue_as_new never runs (its results could not arrive).
        decision.activities.clear()
        decision.timers.clear()
        decision.sub_orchestrations.clear()
        decision.entity_messages = [m for m in decision.entity_messages if m.request_id is None]
        return decision
    if is_done:
        decision.outcome = Outcome.COMPLETED
        if "outputJson" in orchestrator_state:
            decision.output = orchestrator_state["outputJson"]
        elif "output" in orchestrator_state and orchestrator_state["output"] is not None:
            decision.output = json.dumps(orchestrator_state["output"])
        decision.events.append(
            h.execution_completed(
                timestamp,
                RuntimeStatus.COMPLETED.orchestration_status_code,
                decision.output if decision.output is not None else "null",
            )
        )
        return decision
    has_new_work = bool(
        decision.activities
        or decision.timers
        or decision.sub_orchestrations
        or decision.entity_messages
        or decision.lock_requests
    )
    if not has_new_work and not state.open_ids and not waits and not _retry_pending(state):
        message = (
            f"instance '{info.instance_id}' is waiting but has no open task, timer or external-event wait; "
            "it cannot progress"
        )
        log.warning("Orchestration '%s' is stuck: %s", info.instance_id, message)
        decision.diagnostics.append(message)
    return decision


def _retry_pending(state: ExecutionState) -> bool:
    return any(group.timer_id is not None for group in state.retry_groups)


def finish_failed(decision: Decision, prepared: PreparedEpisode, message: str, details: str) -> Decision:
    """End the execution as Failed in this episode: no new work, ExecutionCompleted with the message."""
    decision.outcome = Outcome.FAILED
    decision.failure_message = message
    decision.failure_details = details
    decision.output = json.dumps(message)
    decision.activities.clear()
    decision.timers.clear()
    decision.sub_orchestrations.clear()
    decision.entity_messages.clear()
    decision.events_sent.clear()
    # Locks need no release here: the store releases whatever an execution holds when it ends.
    decision.lock_requests.clear()
    decision.lock_releases.clear()
    # Retry work handed out in prepare_episode is void too: the execution ends here.
    decision.events = [
        *prepared.new_events,
        h.orchestrator_completed(prepared.timestamp),
        h.execution_completed(prepared.timestamp, RuntimeStatus.FAILED.orchestration_status_code, decision.output),
    ]
    return decision


def _schedule(
    state: ExecutionState, info: EpisodeInfo, action: Action, task_id: int, timestamp: str, decision: Decision
) -> Event:
    action_type = int(action["actionType"])
    action_input = action.get("input")
    if action_type in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_HTTP):
        if action_type == ActionType.CALL_HTTP:
            name = HTTP_ACTIVITY_NAME
            action_input = json.dumps(action.get("httpRequest"))
        else:
            name = str(action.get("functionName"))
        decision.activities.append(ActivityWork(task_id, name, action_input))
        if action_type == ActionType.CALL_ACTIVITY_WITH_RETRY:
            _add_retry_group(state, "activity", name, action_input, action, task_id, None)
        return h.task_scheduled(timestamp, task_id, name, action_input)
    if action_type in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        name = str(action.get("functionName"))
        given = action.get("instanceId") or None
        child = given or f"{info.instance_id}:{task_id}"
        decision.sub_orchestrations.append(SubOrchestrationWork(task_id, name, child, action_input))
        if action_type == ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
            _add_retry_group(state, "sub", name, action_input, action, task_id, given)
        return h.sub_orchestration_created(timestamp, task_id, name, child, action_input)
    if action_type == ActionType.CREATE_TIMER:
        fire_text = str(action["fireAt"])
        fire_at = h.parse_ts(fire_text)
        decision.timers.append(TimerWork(task_id, fire_at, h.format_ts(fire_at)))
        return h.timer_created(timestamp, task_id, h.format_ts(fire_at))
    if action_type == SEND_EVENT_ACTION:
        target, name = str(action.get("instanceId")), str(action.get("eventName"))
        decision.events_sent.append(EventWork(target, name, action_input))
        return h.event_sent(timestamp, task_id, target, name, action_input)
    if action_type in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
        target = str(action.get("instanceId"))
        operation = str(action.get("operation"))
        request_id = str(uuid.uuid4())
        is_signal = action_type == ActionType.SIGNAL_ENTITY
        request: EntityRequest = {"id": request_id, "op": operation, "signal": is_signal, "parent": info.instance_id}
        scheduled = action.get("scheduledTime") if is_signal else None
        visible_us = h.to_us(h.parse_ts(str(scheduled))) if scheduled else None
        decision.entity_messages.append(
            EntityWork(target, operation, json.dumps(action_input), None if is_signal else request_id, visible_us)
        )
        return h.event_sent(timestamp, task_id, target, operation, json.dumps(request))
    if action_type == LOCK_ENTITIES_ACTION:
        section = str(action["criticalSectionId"])
        lock_set = [str(entity) for entity in action["lockSet"]]
        position = int(action.get("position") or 0)
        lock: EntityRequest = {
            "id": section,
            "op": "",
            "signal": False,
            "parent": info.instance_id,
            "lockset": lock_set,
            "pos": position,
        }
        decision.lock_requests.append(LockWork(section, lock_set))
        return h.event_sent(timestamp, task_id, lock_set[position], LOCK_REQUEST_NAME, json.dumps(lock))
    if action_type == RELEASE_LOCK_ACTION:
        section, target = str(action["criticalSectionId"]), str(action["instanceId"])
        release: EntityRequest = {"id": section, "op": "", "signal": True, "parent": info.instance_id, "release": True}
        decision.lock_releases.append(ReleaseWork(target, section))
        return h.event_sent(timestamp, task_id, target, LOCK_RELEASE_NAME, json.dumps(release))
    raise ValueError(f"unsupported action type {action_type}: {action}")


def _add_retry_group(
    state: ExecutionState,
    kind: Literal["activity", "sub"],
    name: str,
    action_input: str | None,
    action: Action,
    task_id: int,
    instance_id: str | None,
) -> None:
    options = action.get("retryOptions") or {}
    state.retry_groups.append(
        RetryGroup(
            kind=kind,
            name=name,
            input=action_input,
            max_attempts=int(options.get("maxNumberOfAttempts", 1)),
            interval_ms=int(options.get("firstRetryIntervalInMilliseconds", 0)),
            current_id=task_id,
            instance_id=instance_id,
        )
    )


# --------------------------------------------------------------------------------------------------
# The whole step


def run_episode(
    handle: Callable[[str], str],
    state: ExecutionState,
    info: EpisodeInfo,
    incoming: list[Event],
    now: datetime,
) -> Decision:
    """One episode in this process: prepare, build the context, call an SDK handle with the whole history,
    decide. The engine does the same steps with the handle call in a worker; unit tests use this.

    Mutates ``state``'s ids and retry groups; the caller applies ``decision.events`` with
    ``state.apply_events`` once stored."""
    prepared = prepare_episode(state, info.instance_id, incoming, now)
    context = build_context_json(state, info, prepared.new_events)
    result: str | BaseException
    try:
        result = handle(context)
    except Exception as exc:  # the SDK's failure path raises by design
        result = exc
    return decide(state, info, prepared, result)
