"""Call a user function: build its arguments from the trigger and bindings, run it, write its outputs."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.functions as func

from devhost.app.index import IndexedFunction, ParameterKind
from devhost.bindings.runtime import BindingRuntime
from devhost.errors import DevHostError
from devhost.logs import log_invocation_end, log_invocation_start


class InvocationFailed(DevHostError):
    """The user function (or one of its bindings) failed; carries the invocation id for the caller."""

    def __init__(self, function_name: str, invocation_id: str, cause: BaseException) -> None:
        super().__init__(f"function {function_name!r} failed (invocation {invocation_id}): {cause}")
        self.function_name = function_name
        self.invocation_id = invocation_id
        self.cause = cause


@dataclass(frozen=True)
class TriggerInput:
    """What a trigger hands the invoker."""

    #: The value for the trigger parameter, already in the SDK type the parameter wants.
    value: Any
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
    return_value: Any
    #: Values set on output parameters, by binding name (http outputs are read from here by the trigger).
    outputs: dict[str, Any] = field(default_factory=dict)


class _TraceContext:
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._parent = trace_parent
        self._state = trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext:
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The `context` parameter: invocation id, function name and directory, trace and retry context."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str, trace: _TraceContext) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = trace
        self._retry = _RetryContext()
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return self._retry


class OutValue(func.Out[Any]):
    """The object passed for func.Out[...] parameters."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def _new_trace_parent() -> str:
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


class Invoker:
    """Runs user functions: async ones on the loop, sync ones in the host's thread pool."""

    def __init__(
        self,
        bindings: BindingRuntime,
        executor: ThreadPoolExecutor,
        *,
        durable_client: Callable[[IndexedFunction], str] | None = None,
        function_timeout: timedelta | None = None,
    ) -> None:
        self._bindings = bindings
        self._executor = executor
        self._durable_client = durable_client
        self._timeout = function_timeout.total_seconds() if function_timeout else None

    async def invoke(self, function: IndexedFunction, trigger: TriggerInput) -> InvocationResult:
        """Run the function once; raise InvocationFailed (already logged) when it or a binding fails."""
        invocation_id = str(uuid.uuid4())
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
        kwargs: dict[str, Any] = {}
        outs: dict[str, OutValue] = {}
        for param in function.parameters:
            if param.kind is ParameterKind.TRIGGER:
                kwargs[param.name] = trigger.value
            elif param.kind is ParameterKind.CONTEXT:
                trace = _TraceContext(trigger.trace_parent or _new_trace_parent(), trigger.trace_state or "")
                kwargs[param.name] = InvocationContext(invocation_id, function.name, str(function.directory), trace)
            elif param.kind is ParameterKind.DURABLE_CLIENT:
                if self._durable_client is None:
                    raise DevHostError("the durable engine is not running, so durableClient cannot be bound")
                kwargs[param.name] = self._durable_client(function)
            elif param.kind is ParameterKind.OUTPUT:
                outs[param.name] = kwargs[param.name] = OutValue()
            else:
                assert param.binding is not None
                kwargs[param.name] = await self._bindings.read(param.binding, trigger.binding_data, param.annotation)
        return_value = await self._call(function, kwargs)
        result = InvocationResult(invocation_id, return_value, {name: out.get() for name, out in outs.items()})
        for binding in function.bindings:
            if binding.direction != "out":
                continue
            value = return_value if binding.name == "$return" else result.outputs.get(binding.name)
            if binding.type == "http":
                _check_http_output(function.name, value)  # the HTTP trigger sends it; a bad type fails the call
            else:
                await self._bindings.write(binding, value, trigger.binding_data)
        return result

    async def _call(self, function: IndexedFunction, kwargs: dict[str, Any]) -> Any:
        if function.is_async:
            coroutine = function.user_function(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(function.user_function, **kwargs)
            # copy_context so contextvars set by the host are visible to the user's thread.
            coroutine = loop.run_in_executor(self._executor, contextvars.copy_context().run, call)
        if self._timeout is None:
            return await coroutine
        try:
            return await asyncio.wait_for(coroutine, self._timeout)
        except TimeoutError:
            raise TimeoutError(
                f"Timeout value of {timedelta(seconds=self._timeout)} was exceeded by function: "
                f"Functions.{function.name} (host.json functionTimeout)"
            ) from None


def _check_http_output(function_name: str, value: Any) -> None:
    # The worker only encodes func.HttpResponse and str for an http output (anything else fails the call).
    if value is not None and not isinstance(value, str | func.HttpResponse):
        raise TypeError(
            f"function {function_name!r} returned a {type(value).__name__} for its HTTP output; "
            "return func.HttpResponse or str (like the Python worker)"
        )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _public_error(exc: BaseException) -> BaseException | str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled (host shutting down)"
    return exc
