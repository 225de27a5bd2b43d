"""Durable entity batches (durable-protocol.md section 6): request JSON in, outcome out. No I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from devhost.durable.models import JsonValue


def entity_id(name: str, key: str) -> str:
    """The scheduler id '@<lower-cased name>@<key>' the SDK uses for an entity."""
    return f"@{name.lower()}@{key}"


def split_entity_id(value: str) -> tuple[str, str]:
    """(name, key) of an '@name@key' id; raises ValueError on anything else."""
    if not value.startswith("@") or "@" not in value[1:]:
        raise ValueError(f"not an entity id: {value!r}")
    name, key = value[1:].split("@", 1)
    return name, key


@dataclass(frozen=True)
class EntityOperation:
    """One queued operation for an entity."""

    operation: str
    #: JSON text whose value is JSON text (what DurableEntityContext.get_input expects); "null" if none.
    input: str
    #: Set for calls from orchestrations: the reply goes to (instance, request id).
    request_id: str | None = None
    reply_instance_id: str | None = None


@dataclass(frozen=True)
class OperationOutcome:
    """The result of one operation: JSON text of the result, or of the error message."""

    is_error: bool
    result: str


@dataclass(frozen=True)
class EntitySignal:
    """An operation an entity signalled to an entity during its batch."""

    entity_id: str
    operation: str
    #: As stored for an operation (JSON text whose value is JSON text); "null" if none.
    input: str
    #: When a scheduled signal becomes due (UTC microseconds); None: at once.
    visible_us: int | None = None


@dataclass(frozen=True)
class EntityStart:
    """An orchestration an entity started during its batch."""

    instance_id: str
    name: str
    #: The orchestration's input JSON text as the orchestrator reads it, or None.
    input: str | None


@dataclass(frozen=True)
class BatchOutcome:
    """The entity's state after a batch, one outcome per operation, in order, and what the batch sent on."""

    exists: bool
    state: str | None
    results: list[OperationOutcome]
    signals: list[EntitySignal] = field(default_factory=list)
    starts: list[EntityStart] = field(default_factory=list)


class EntitySelf(TypedDict):
    """The entity a batch request is for."""

    name: str
    key: str


class BatchOperation(TypedDict):
    """One operation of a batch request."""

    name: str
    input: str
    isSignal: bool


class BatchRequest(TypedDict):
    """The entity handle's request (exactly the four keys the SDK accepts)."""

    self: EntitySelf
    exists: bool
    state: str | None
    batch: list[BatchOperation]


class OperationResult(TypedDict, total=False):
    """One item of the handle's response "results" (the host reads every key as optional)."""

    isError: bool
    result: JsonValue


class SignalItem(TypedDict):
    """One of a batch response's "signals" (devhost's own key: gRPC workers' sendSignal actions)."""

    entityId: str
    operation: str
    input: str
    visibleUs: NotRequired[int]


class StartItem(TypedDict):
    """One of a batch response's "starts" (devhost's own key: gRPC workers' startNewOrchestration actions)."""

    instanceId: str
    name: str
    input: str | None


class BatchResponse(TypedDict, total=False):
    """The entity handle's response (the host reads every key as optional)."""

    entityExists: bool
    entityState: JsonValue
    results: list[OperationResult]
    signals: list[SignalItem]
    starts: list[StartItem]


class CallReply(TypedDict):
    """The EventRaised Input that answers an orchestration's entity call."""

    result: str
    exceptionType: NotRequired[str]


def build_batch_request(name: str, key: str, state: str | None, operations: Sequence[EntityOperation]) -> str:
    """The entity handle's request JSON text (exactly the four keys the SDK accepts)."""
    request: BatchRequest = {
        "self": {"name": name, "key": key},
        "exists": state is not None,
        "state": state,
        "batch": [
            {"name": op.operation, "input": op.input or "null", "isSignal": op.request_id is None} for op in operations
        ],
    }
    return json.dumps(request)


def parse_batch_response(text: str, count: int) -> BatchOutcome:
    """Read the handle's response; missing results count as errors so every caller gets a reply."""
    data: BatchResponse = json.loads(text)
    exists = bool(data.get("entityExists"))
    state = data.get("entityState") if exists else None
    if state is not None and not isinstance(state, str):
        state = json.dumps(state)
    results: list[OperationOutcome] = []
    for item in (data.get("results") or [])[:count]:
        result = item.get("result")
        if result is not None and not isinstance(result, str):
            result = json.dumps(result)
        results.append(OperationOutcome(bool(item.get("isError")), result if result is not None else "null"))
    while len(results) < count:
        results.append(OperationOutcome(True, json.dumps("the entity returned no result for this operation")))
    signals = [
        EntitySignal(s["entityId"], s["operation"], s["input"], s.get("visibleUs")) for s in data.get("signals") or []
    ]
    starts = [EntityStart(s["instanceId"], s["name"], s["input"]) for s in data.get("starts") or []]
    return BatchOutcome(exists, state, results, signals, starts)


def failed_batch(message: str, count: int, state: str | None) -> BatchOutcome:
    """Every operation failed with `message`; the state is left as it was."""
    return BatchOutcome(state is not None, state, [OperationOutcome(True, json.dumps(message))] * count)


def reply_input(outcome: OperationOutcome) -> str:
    """EventRaised Input of a call's reply (durable-protocol.md 2.5: result JSON text inside)."""
    payload: CallReply = {"result": outcome.result}
    if outcome.is_error:
        payload["exceptionType"] = "Error"
    return json.dumps(payload)
