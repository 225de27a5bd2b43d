"""Records shared by the durable engine, its store, the management API and the dashboard."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

#: A parsed JSON value (what json.loads returns).
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


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
    #: The string map a gRPC client started the instance with (CreateInstanceRequest.tags); None without.
    tags: dict[str, str] | None = None


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


@dataclass(frozen=True)
class EpisodeContext:
    """The orchestration context of one episode, split so that a worker can keep what it already parsed.

    ``played`` are the earlier episodes' events (each chunk one episode's events as comma-joined JSON
    objects, IsPlayed true); it only ever grows while ``history_key`` stays the same, so a worker that has
    parsed the first n chunks under that key needs only the rest. ``current_json`` is the context JSON
    (durable-protocol.md 1.2) whose history holds this episode's new events only; ``full_json()`` is what
    the extension sends, the whole history.
    """

    history_key: str
    played: tuple[str, ...]
    current_json: str

    def full_json(self) -> str:
        """The context JSON with the whole history (earlier episodes' events first)."""
        if not self.played:
            return self.current_json
        head = '{"history":['
        assert self.current_json.startswith(head), "current_json comes from replay.build_episode_context"
        new = self.current_json[len(head) :]
        joined = ",".join(self.played)
        return head + joined + ("" if new.startswith("]") else ",") + new


class DurableRunner(Protocol):
    """Runs the app's durable functions (in the worker processes); the engine's only way to user code."""

    async def orchestrate(self, function: str, instance_id: str, context: EpisodeContext) -> str | BaseException:
        """One episode: the OrchestratorState JSON text, or an exception whose text is what the SDK's handle
        raised on its failure path (durable-protocol.md 2.2), a timeout or a crash."""
        ...

    async def activity(self, function: str, instance_id: str, input_json: str | None) -> str:
        """One activity run: its result JSON text; raises ActivityFailure when it fails."""
        ...

    async def entity(self, function: str, entity_id: str, request_json: str) -> str:
        """One entity batch: the response JSON text; raises when the entity function cannot run."""
        ...


class NoRunner:
    """The runner of an engine without an app (store tools, tests of the store): nothing can run."""

    async def orchestrate(self, function: str, instance_id: str, context: EpisodeContext) -> str | BaseException:
        return RuntimeError(f"no worker runs orchestrator '{function}'")

    async def activity(self, function: str, instance_id: str, input_json: str | None) -> str:
        raise ActivityFailure(f"no worker runs activity '{function}'", "")

    async def entity(self, function: str, entity_id: str, request_json: str) -> str:
        raise RuntimeError(f"no worker runs entity '{function}'")


#: The built-in HTTP activity behind ``context.call_http``: the DurableHttpRequest JSON text in, the
#: ``{"statusCode", "headers", "content"}`` JSON text out; raises ActivityFailure when the request fails.
HttpActivity = Callable[[str | None], Awaitable[str]]


async def no_http_activity(input_json: str | None) -> str:
    """The HTTP activity of an engine without an app (store tools, tests of the store): nothing can run."""
    raise ActivityFailure("no HTTP client runs the built-in HTTP activity", "")


@dataclass(frozen=True)
class DurableFunctions:
    """The app's durable functions, the runner that calls them, and the built-in HTTP activity.

    Names are matched case-insensitively (Functions names are), so keys are lower-cased names and binding
    aliases; values are the function names the runner knows. The HTTP activity runs in the host, not in a
    worker; it is passed in so that the engine needs no HTTP client of its own.
    """

    runner: DurableRunner = field(default_factory=NoRunner)
    orchestrators: Mapping[str, str] = field(default_factory=dict)
    activities: Mapping[str, str] = field(default_factory=dict)
    entities: Mapping[str, str] = field(default_factory=dict)
    http_activity: HttpActivity = field(default=no_http_activity)
    #: Accept names no table holds and pass them to the runner as given: with the scheduler endpoint on,
    #: gRPC workers run what the app does not define (devhost/scheduler/routing.py).
    open_names: bool = False

    def orchestrator(self, name: str) -> str | None:
        """The runner's name for orchestrator ``name``, None when nobody can run it."""
        return self.orchestrators.get(name.lower()) or (name if self.open_names else None)

    def activity(self, name: str) -> str | None:
        """The runner's name for activity ``name``, None when nobody can run it."""
        return self.activities.get(name.lower()) or (name if self.open_names else None)

    def entity(self, name: str) -> str | None:
        """The runner's name for entity ``name``, None when nobody can run it."""
        return self.entities.get(name.lower()) or (name if self.open_names else None)


class RunnerUnavailable(Exception):
    """Nobody can run this function right now (no connected gRPC worker takes its name): the engine keeps the
    work in the store, holds no slot or lock for it, and tries again when ``DurableEngine.unpark`` is called."""


@dataclass(frozen=True)
class WaitingWork:
    """A work item the runner turned away (RunnerUnavailable): it waits in the task hub for someone who runs it."""

    kind: Literal["orchestration", "activity", "entity"]
    #: The orchestrator, activity or entity name no runner takes.
    name: str
    #: The orchestration instance it belongs to (for an entity: the entity id, '@name@key').
    instance_id: str


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
    #: Tests only (DEVHOST_VIRTUAL_TIME): the task hub's clock can be moved forward (durable/clock.py).
    virtual_time: bool = False
