"""The durable engine's DurableRunner over the worker pool, with the Functions host's invocation log lines."""

from __future__ import annotations

import logging
import time

from devhost.app.index import FunctionIndex, TriggerKind
from devhost.durable.models import ActivityFailure, DurableFunctions, EpisodeContext
from devhost.logs import invocations, log_invocation_end, log_invocation_start, new_invocation_id
from devhost.workers.http_activity import run_http_activity
from devhost.workers.pool import FunctionFailed, FunctionTimeout, WorkerPool

#: The binding setting that gives a durable function a second name, by trigger kind.
_ALIASES = {
    TriggerKind.ORCHESTRATION: "orchestration",
    TriggerKind.ACTIVITY: "activity",
    TriggerKind.ENTITY: "entityName",
}


class WorkerDurableRunner:
    """Runs orchestrator episodes, activities and entity batches in the worker processes."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    async def orchestrate(self, function: str, instance_id: str, context: EpisodeContext) -> str | BaseException:
        """One episode (logged at DEBUG: an instance has many)."""
        invocation_id = new_invocation_id()
        debug = invocations.isEnabledFor(logging.DEBUG)
        started = time.perf_counter()
        if debug:
            invocations.debug(
                "Executing 'Functions.%s' (Reason='OrchestrationTrigger', Id=%s)", function, invocation_id
            )
        try:
            ok, text = await self.pool.orchestrate(function, invocation_id, instance_id, context)
        except (FunctionFailed, FunctionTimeout) as exc:
            log_invocation_end(function, invocation_id, _elapsed_ms(started), str(exc))
            return exc

        if debug:
            outcome = "Succeeded" if ok else "Episode failed"
            invocations.debug(
                "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
                function,
                outcome,
                invocation_id,
                _elapsed_ms(started),
            )
        return text if ok else Exception(text)

    async def activity(self, function: str, instance_id: str, input_json: str | None) -> str:
        """One activity run; ActivityFailure with what the orchestrator sees when it fails."""
        invocation_id = new_invocation_id()
        log_invocation_start(function, invocation_id, "ActivityTrigger")
        started = time.perf_counter()
        try:
            result = await self.pool.activity(function, invocation_id, instance_id, input_json)
        except FunctionFailed as exc:
            reason = exc.error.get("reason") or f"Activity function '{function}' failed: {exc}"
            details = exc.error.get("details") or exc.error.get("traceback") or reason
            log_invocation_end(function, invocation_id, _elapsed_ms(started), reason)
            raise ActivityFailure(reason, details) from exc
        except FunctionTimeout as exc:
            log_invocation_end(function, invocation_id, _elapsed_ms(started), str(exc))
            raise ActivityFailure(str(exc), str(exc)) from exc
        log_invocation_end(function, invocation_id, _elapsed_ms(started))
        return result

    async def entity(self, function: str, entity_id: str, request_json: str) -> str:
        """One entity batch."""
        invocation_id = new_invocation_id()
        log_invocation_start(function, invocation_id, "EntityTrigger")
        started = time.perf_counter()
        try:
            result = await self.pool.entity(function, invocation_id, entity_id, request_json)
        except (FunctionFailed, FunctionTimeout) as exc:
            log_invocation_end(function, invocation_id, _elapsed_ms(started), str(exc))
            raise
        log_invocation_end(function, invocation_id, _elapsed_ms(started))
        return result


def durable_functions(index: FunctionIndex, pool: WorkerPool) -> DurableFunctions:
    """The app's orchestrators, activities and entities by lower-cased name and alias, run by the pool, and
    the built-in HTTP activity (run in the host)."""
    tables: dict[TriggerKind, dict[str, str]] = {kind: {} for kind in _ALIASES}
    for function in index.functions:
        if function.kind not in _ALIASES:
            continue
        names = tables[function.kind]
        names[function.name.lower()] = function.name
        alias = function.trigger.get(_ALIASES[function.kind])
        if alias:
            names.setdefault(str(alias).lower(), function.name)
    return DurableFunctions(
        runner=WorkerDurableRunner(pool),
        orchestrators=tables[TriggerKind.ORCHESTRATION],
        activities=tables[TriggerKind.ACTIVITY],
        entities=tables[TriggerKind.ENTITY],
        http_activity=run_http_activity,
    )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
