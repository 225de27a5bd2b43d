"""Invoke a triggered function in a worker: read its input bindings, send the trigger's data, write its outputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devhost.app.index import IndexedFunction, ParameterKind
from devhost.bindings.runtime import BindingRuntime
from devhost.errors import DevHostError
from devhost.logs import log_invocation_end, log_invocation_start, new_invocation_id
from devhost.workers.pool import FunctionFailed, FunctionTimeout, WorkerPool


class InvocationFailed(DevHostError):
    """The user function (or one of its bindings) failed; carries the invocation id for the caller."""

    def __init__(self, function_name: str, invocation_id: str, cause: BaseException) -> None:
        super().__init__(f"function {function_name!r} failed (invocation {invocation_id}): {cause}")
        self.function_name = function_name
        self.invocation_id = invocation_id
        self.cause = cause


#: The reason the host logs for runs it was asked for (HTTP requests, POST /admin/functions/{name}).
HOST_API_REASON = "This function was programmatically called via the host APIs."


@dataclass(frozen=True)
class TriggerInput:
    """What a trigger hands the invoker."""

    #: The trigger's data in the worker's wire shape (devhost/worker/conversions.py trigger_value).
    data: Mapping[str, Any]
    #: Names for {binding expressions}: route/query params, message properties, metadata.
    binding_data: Mapping[str, Any]
    #: Why the function runs, for the "Executing ..." log line.
    reason: str
    trace_parent: str | None = None
    trace_state: str | None = None


@dataclass
class InvocationResult:
    """The outcome of a successful invocation."""

    invocation_id: str
    #: Output binding values in the wire shape, by binding name ("$return" included); the HTTP trigger
    #: reads its response from here, the others are already written.
    outputs: dict[str, Any] = field(default_factory=dict)


class Invoker:
    """Runs triggered functions in the worker processes."""

    def __init__(
        self,
        bindings: BindingRuntime,
        workers: WorkerPool,
        *,
        durable_client: Callable[[IndexedFunction], str] | None = None,
    ) -> None:
        self._bindings = bindings
        self._workers = workers
        self._durable_client = durable_client

    async def invoke(self, function: IndexedFunction, trigger: TriggerInput) -> InvocationResult:
        """Run the function once; raise InvocationFailed (already logged) when it or a binding fails."""
        invocation_id = new_invocation_id()
        log_invocation_start(function.name, invocation_id, trigger.reason)
        started = time.perf_counter()
        try:
            result = await self._run(function, trigger, invocation_id)
        except BaseException as exc:
            log_invocation_end(function.name, invocation_id, _elapsed_ms(started), _public_error(exc))
            if isinstance(exc, Exception):
                raise InvocationFailed(function.name, invocation_id, exc) from exc
            raise
        log_invocation_end(function.name, invocation_id, _elapsed_ms(started))
        return result

    async def _run(self, function: IndexedFunction, trigger: TriggerInput, invocation_id: str) -> InvocationResult:
        inputs: dict[str, Any] = {}
        for param in function.parameters:
            if param.binding is None:
                continue
            if param.kind is ParameterKind.DURABLE_CLIENT:
                if self._durable_client is None:
                    raise DevHostError("the durable engine is not running, so durableClient cannot be bound")
                inputs[param.binding.name] = {"text": self._durable_client(function)}
            elif param.kind is ParameterKind.INPUT:
                inputs[param.binding.name] = await self._bindings.read(param.binding, trigger.binding_data)
        fields = {
            "trigger": dict(trigger.data),
            "inputs": inputs,
            "trace_parent": trigger.trace_parent,
            "trace_state": trigger.trace_state,
        }
        outputs = await self._workers.invoke(function.name, invocation_id, fields)
        for binding in function.bindings:
            if binding.direction == "out" and binding.type != "http":
                await self._bindings.write(binding, outputs.get(binding.name), trigger.binding_data)
        return InvocationResult(invocation_id, outputs)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _public_error(exc: BaseException) -> BaseException | str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled (host shutting down)"
    if isinstance(exc, FunctionFailed):
        # The worker's traceback is the useful part: it shows where in user code the error came from.
        return exc.error.get("traceback") or str(exc)
    if isinstance(exc, FunctionTimeout):
        return str(exc)
    return exc
