"""Records shared by the durable engine, its store, the management API and the dashboard."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


class RuntimeStatus(enum.StrEnum):
    """Runtime status of an orchestration instance, named as the Durable HTTP API names them."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        """True for states an instance never leaves by itself."""
        return self in _TERMINAL

    @property
    def orchestration_status_code(self) -> int:
        """DTFx OrchestrationStatus integer (ExecutionCompleted.OrchestrationStatus)."""
        return _STATUS_CODES[self]

    @classmethod
    def parse(cls, text: str) -> RuntimeStatus:
        """Parse a status name case-insensitively; raises ValueError naming the valid values."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        valid = ", ".join(s.value for s in cls)
        raise ValueError(f"unknown runtime status {text!r}; expected one of: {valid}")


_TERMINAL = frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED})
_STATUS_CODES = {
    RuntimeStatus.RUNNING: 0,
    RuntimeStatus.COMPLETED: 1,
    RuntimeStatus.CONTINUED_AS_NEW: 2,
    RuntimeStatus.FAILED: 3,
    RuntimeStatus.CANCELED: 4,
    RuntimeStatus.TERMINATED: 5,
    RuntimeStatus.PENDING: 6,
    RuntimeStatus.SUSPENDED: 7,
}


@dataclass(frozen=True)
class InstanceRecord:
    """One orchestration instance as stored (JSON fields are JSON text, never parsed values)."""

    instance_id: str
    execution_id: str
    name: str
    runtime_status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: datetime
    last_updated_time: datetime
    completed_time: datetime | None = None
    parent_instance_id: str | None = None
    #: Human-readable failure message when Failed (also the status "output" of the HTTP API).
    failure_message: str | None = None


@dataclass(frozen=True)
class InstanceQuery:
    """Filters and paging for listing instances. Every filter is optional."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: frozenset[RuntimeStatus] | None = None
    instance_id_prefix: str | None = None
    name: str | None = None
    #: Only top-level orchestrations (no parent) when False.
    include_sub_orchestrations: bool = True
    #: Only instances whose last update is at or after this time.
    updated_from: datetime | None = None
    page_size: int = 100
    #: Opaque token from a previous page's InstancePage.continuation_token.
    continuation_token: str | None = None
    #: Newest first when True (dashboard default); oldest first otherwise (HTTP API default).
    newest_first: bool = False


@dataclass(frozen=True)
class InstancePage:
    """One page of instances; continuation_token is None on the last page."""

    instances: list[InstanceRecord]
    continuation_token: str | None


@dataclass(frozen=True)
class EntityRecord:
    """A durable entity's stored state (state is JSON text, None when it does not exist)."""

    entity_id: str  # "@name@key", name lower-cased
    name: str
    key: str
    state: str | None
    last_operation_time: datetime | None
    locked_by: str | None = None


@dataclass
class ActivityFunction:
    """One activity function as the engine runs it: input JSON text in, result JSON text out. Both entry
    points raise ActivityFailure when the function fails."""

    #: One invocation, awaited on the event loop (a sync function runs in the function thread pool).
    run: Callable[[str], Awaitable[str]]
    #: Sync (def) functions only: one invocation in the calling thread. Returns an awaitable if the
    #: function returned one (the caller finishes it on the event loop).
    run_in_thread: Callable[[str], str | Awaitable[str]] | None = None
    #: Wall-clock and CPU seconds of its last invocation run by run_in_thread (None before the first).
    last_wall_s: float | None = None
    last_cpu_s: float | None = None


@dataclass(frozen=True)
class DurableFunctions:
    """The app's durable functions by name, as adapters the engine can call.

    Names are matched case-insensitively (Functions names are), so keys are stored lower-cased.
    """

    #: Orchestrator handle: context JSON text in, OrchestratorState JSON text out (or raises, see
    #: durable-protocol.md 2.2). Synchronous and CPU-bound; the engine runs it in its replay pool (and the
    #: cheap episodes of an orchestration live in a session on the event loop).
    orchestrators: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    #: Activity functions (see ActivityFunction).
    activities: Mapping[str, ActivityFunction] = field(default_factory=dict)
    #: Entity handle: entity request JSON text in, entity response JSON text out.
    entities: Mapping[str, Callable[[str], str]] = field(default_factory=dict)


class ActivityFailure(Exception):
    """An activity raised: carries the Reason and Details the orchestrator will see."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings, from host.json extensions.durableTask and the CLI."""

    task_hub: str = "default"
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    #: How long an activity or orchestration work item stays leased before it is retried.
    lease_seconds: float = 300.0
