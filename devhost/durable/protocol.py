"""Numbers and names of the Durable Functions protocol (durable-protocol.md), defined once for the host.

The enums are IntEnums so they stay plain numbers on the wire: ``json.dumps`` writes a member as its value,
and a member equals (and hashes as) that int, so events read back from the store compare with them directly.
"""

from __future__ import annotations

import enum


class EventType(enum.IntEnum):
    """History event types (DTFx EventType; azure/durable_functions/models/history/HistoryEventType.py).

    Member names are the DTFx names in upper snake case, so ``history_name`` is derived rather than listed.
    """

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20

    @property
    def history_name(self) -> str:
        """The DTFx name (e.g. ``SubOrchestrationInstanceCreated``) the HTTP API and the dashboard show."""
        return _HISTORY_NAMES[self]


_HISTORY_NAMES: dict[int, str] = {
    member: "".join(word.capitalize() for word in member.name.split("_")) for member in EventType
}


def history_name(event_type: int) -> str | None:
    """The DTFx name of an event type number, None when the number is no event type."""
    # A dict lookup rather than EventType(event_type): callers render whole histories.
    return _HISTORY_NAMES.get(event_type)


class ActionType(enum.IntEnum):
    """Action types of the SDK's OrchestratorState (azure/durable_functions/models/actions/ActionType.py)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


#: The activity name ``context.call_http`` is scheduled as (TaskScheduled.Name); the host runs it itself.
HTTP_ACTIVITY_NAME = "BuiltIn::HttpActivity"
