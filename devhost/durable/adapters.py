"""Turn the app's indexed durable functions into the callables the engine drives (DurableFunctions)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from azure.functions._durable_functions import df_dumps, df_loads
from azure.functions.decorators.function_app import Function

from devhost.durable.models import ActivityFailure, ActivityFunction, DurableFunctions
from devhost.durable.sessions import SDK_HANDLE_ATTR
from devhost.logs import invocations, log_invocation_end, log_invocation_start

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"


def _trigger_binding(fn: Function) -> dict[str, Any] | None:
    for raw in fn.get_raw_bindings():
        binding = json.loads(raw)
        if binding.get("type") in (ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER):
            return dict(binding)
    return None


def _function_name(fn: Function) -> str:
    return fn.get_function_name() or fn.get_user_function().__name__


def _names(fn: Function, binding: dict[str, Any], alias_key: str) -> list[str]:
    names = [_function_name(fn).lower()]
    alias = binding.get(alias_key)
    if alias and alias.lower() not in names:
        names.append(str(alias).lower())
    return names


def orchestrator_adapter(function_name: str, handle: Callable[[Any], str]) -> Callable[[str], str]:
    """Wrap an orchestrator handle: context JSON text in, OrchestratorState JSON text out (or raises).

    Episodes happen many times per instance, so they log at DEBUG only.
    """

    def run(context_json: str) -> str:
        invocation_id = str(uuid.uuid4())
        debug = invocations.isEnabledFor(logging.DEBUG)
        started = time.perf_counter()
        if debug:
            invocations.debug(
                "Executing 'Functions.%s' (Reason='OrchestrationTrigger', Id=%s)", function_name, invocation_id
            )
        try:
            result = handle(context_json)
        except Exception:
            if debug:
                invocations.debug("Executed 'Functions.%s' (Episode failed, Id=%s)", function_name, invocation_id)
            raise
        if debug:
            invocations.debug(
                "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                function_name,
                invocation_id,
                (time.perf_counter() - started) * 1000,
            )
        return result

    # Lets the engine keep the SDK's orchestration alive between episodes (devhost/durable/sessions.py).
    setattr(run, SDK_HANDLE_ATTR, handle)
    return run


def _decode_activity_input(input_json: str | None) -> Any:
    # Same rules as azure.functions.durable_functions.ActivityTriggerConverter.decode.
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except json.JSONDecodeError:
        return input_json


def activity_adapter(
    function_name: str,
    input_name: str,
    user_function: Callable[..., Any],
    executor: Executor | None = None,
) -> ActivityFunction:
    """Wrap an activity: input JSON text in, result JSON text out; failures become ActivityFailure."""
    is_async = inspect.iscoroutinefunction(user_function)

    def failed(exc: Exception, invocation_id: str, started: float) -> ActivityFailure:
        failure = ActivityFailure(
            f"Activity function '{function_name}' failed: {type(exc).__name__}: {exc}",
            "".join(traceback.format_exception(exc)).rstrip(),
        )
        log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000, failure.reason)
        return failure

    def measured(started: float, started_cpu: float) -> None:
        activity.last_wall_s = time.perf_counter() - started
        activity.last_cpu_s = time.thread_time() - started_cpu

    def run_in_thread(input_json: str) -> str | Awaitable[str]:
        # A sync activity runs start to end (log lines, decoding, the call, encoding) in the calling
        # thread, keeping that work off the event loop; an awaitable it returns is finished by _finish.
        invocation_id = str(uuid.uuid4())
        started, started_cpu = time.perf_counter(), time.thread_time()
        log_invocation_start(function_name, invocation_id, "ActivityTrigger")
        try:
            result = user_function(**{input_name: _decode_activity_input(input_json)})
            if inspect.isawaitable(result):
                # It finishes on the event loop, so its cost is not known from this thread.
                activity.last_wall_s = activity.last_cpu_s = None
                return _finish(result, invocation_id, started)
            output = df_dumps(result)
        except Exception as exc:
            measured(started, started_cpu)
            raise failed(exc, invocation_id, started) from exc
        measured(started, started_cpu)
        log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000)
        return output

    async def _finish(pending: Awaitable[Any], invocation_id: str, started: float) -> str:
        try:
            output = df_dumps(await pending)
        except Exception as exc:
            raise failed(exc, invocation_id, started) from exc
        log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000)
        return output

    async def run(input_json: str) -> str:
        if not is_async:
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(executor, run_in_thread, input_json)
            return done if isinstance(done, str) else await done
        invocation_id = str(uuid.uuid4())
        started = time.perf_counter()
        log_invocation_start(function_name, invocation_id, "ActivityTrigger")
        try:
            value = _decode_activity_input(input_json)
            result = await user_function(**{input_name: value})
            if inspect.isawaitable(result):
                result = await result
            output = df_dumps(result)
        except Exception as exc:
            raise failed(exc, invocation_id, started) from exc
        log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000)
        return output

    activity = ActivityFunction(run=run, run_in_thread=None if is_async else run_in_thread)
    return activity


def entity_adapter(function_name: str, handle: Callable[[Any], str]) -> Callable[[str], str]:
    """Wrap an entity handle: batch request JSON text in, response JSON text out."""

    def run(request_json: str) -> str:
        invocation_id = str(uuid.uuid4())
        started = time.perf_counter()
        log_invocation_start(function_name, invocation_id, "EntityTrigger")
        try:
            result = handle(request_json)
        except Exception as exc:
            log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000, exc)
            raise
        log_invocation_end(function_name, invocation_id, (time.perf_counter() - started) * 1000)
        return result

    return run


def build_durable_functions(functions: Sequence[Function], executor: Executor | None = None) -> DurableFunctions:
    """Adapters for every orchestrator, activity and entity among the app's functions (from
    ``app.get_functions()``), keyed by lower-cased function name and binding alias."""
    orchestrators: dict[str, Callable[[str], str]] = {}
    activities: dict[str, ActivityFunction] = {}
    entities: dict[str, Callable[[str], str]] = {}
    for fn in functions:
        binding = _trigger_binding(fn)
        if binding is None:
            continue
        function_name = _function_name(fn)
        kind = binding["type"]
        if kind == ORCHESTRATION_TRIGGER:
            orchestrator = orchestrator_adapter(function_name, fn.get_user_function())
            for name in _names(fn, binding, "orchestration"):
                orchestrators[name] = orchestrator
        elif kind == ACTIVITY_TRIGGER:
            activity = activity_adapter(function_name, str(binding["name"]), fn.get_user_function(), executor)
            for name in _names(fn, binding, "activity"):
                activities[name] = activity
        else:
            entity = entity_adapter(function_name, fn.get_user_function())
            for name in _names(fn, binding, "entityName"):
                entities[name] = entity
    return DurableFunctions(orchestrators=orchestrators, activities=activities, entities=entities)
