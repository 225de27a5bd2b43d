"""The worker processes of a host: FUNCTIONS_WORKER_PROCESS_COUNT of them, each restarted when it dies.

Requests for one orchestration instance or entity go to the same slot (a stable hash of its id), so that
worker sees all of its episodes; other requests go to the least busy worker. functionTimeout is enforced
here: a request that runs over it fails with the Functions host's message and its worker is killed and
replaced, as the host restarts its language worker. Durable requests that were in flight in a worker that
died run again on its replacement (activities at least once, episodes re-run from the history);
triggered invocations (HTTP, queue, timer) fail, as they do in Azure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from devhost.durable.models import EpisodeContext
from devhost.errors import AppLoadError, ConfigError, DevHostError
from devhost.protocol import messages as m
from devhost.protocol.messages import ErrorInfo, FunctionMetadata
from devhost.workers.process import Pending, WorkerDied, WorkerProcess, WorkerSpec

log = logging.getLogger(__name__)

PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
#: FUNCTIONS_WORKER_PROCESS_COUNT's range in Azure.
MAX_PROCESS_COUNT = 10
#: How often a durable request runs again after the worker running it died, before it fails.
MAX_RUNS_AFTER_CRASH = 3
#: Wait before starting a worker again when the app failed to load in the last one.
RESTART_BACKOFF_S = 5.0
#: How long workers get to exit once their channel is closed at shutdown.
STOP_GRACE_S = 2.0


class FunctionTimeout(DevHostError):
    """The invocation ran longer than functionTimeout; its worker was restarted."""


class FunctionFailed(DevHostError):
    """User code raised (or its output could not be encoded); carries the worker's error details."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.get("message") or error.get("type") or "the function failed")
        self.error = error


@dataclass(frozen=True)
class PoolSettings:
    """FUNCTIONS_WORKER_PROCESS_COUNT, PYTHON_THREADPOOL_THREAD_COUNT and functionTimeout."""

    process_count: int = 1
    thread_count: int | None = None
    function_timeout: timedelta | None = None


def pool_settings(settings: Mapping[str, str], function_timeout: timedelta | None) -> PoolSettings:
    """Read the worker settings from the app settings; ConfigError naming the setting and its range."""
    processes = _whole(settings, PROCESS_COUNT_SETTING, 1, MAX_PROCESS_COUNT) or 1
    threads = _whole(settings, THREAD_COUNT_SETTING, 1, 1000)
    return PoolSettings(processes, threads, function_timeout)


def _whole(settings: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = (settings.get(name) or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {text!r}")
    return value


def format_timespan(value: timedelta) -> str:
    """A .NET TimeSpan's text, as the host prints functionTimeout: 00:00:05, 01:30:00."""
    total = value.total_seconds()
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    fraction = total - int(total)
    if fraction:
        text += f".{round(fraction * 10_000_000):07d}"
    return text


class WorkerPool:
    """Starts the workers, routes requests to them, and keeps each slot filled."""

    def __init__(self, spec: WorkerSpec, settings: PoolSettings) -> None:
        self.spec = spec
        self.settings = settings
        self._workers: list[WorkerProcess | None] = [None] * settings.process_count
        self._ready = [asyncio.Event() for _ in range(settings.process_count)]
        self._restarts: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._turns = itertools.count()
        #: Worker restarts since start (tests and the dashboard read it).
        self.restarts = 0

    @property
    def timeout_s(self) -> float | None:
        """functionTimeout in seconds, None for no limit."""
        timeout = self.settings.function_timeout
        return timeout.total_seconds() if timeout is not None else None

    async def start(self) -> list[FunctionMetadata]:
        """Start every worker; the app's functions as the first one indexed them (AppLoadError if it fails)."""
        started = await asyncio.gather(
            *(self._start_worker(slot) for slot in range(len(self._workers))), return_exceptions=True
        )
        failure = next((item for item in started if isinstance(item, BaseException)), None)
        if failure is not None:
            await self.stop()
            raise failure
        first = self._workers[0]
        assert first is not None
        return first.functions

    async def stop(self) -> None:
        """Stop restarting, close every channel, and reap the processes."""
        self._stopping = True
        for task in self._restarts:
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        workers = [w for w in self._workers if w is not None]
        await asyncio.gather(*(w.stop(STOP_GRACE_S) for w in workers), return_exceptions=True)

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.pid for w in self._workers if w is not None and not w.dead and w.pid is not None]

    # ------------------------------------------------------------------ requests
    async def invoke(self, function: str, invocation_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A triggered function: its outputs by binding name (FunctionFailed, FunctionTimeout, WorkerDied)."""
        response = await self._request(m.INVOKE, function, invocation_id, fields, key=None, rerun=False)
        return dict(response.get("outputs") or {})

    async def orchestrate(
        self, function: str, invocation_id: str, instance_id: str, context: EpisodeContext
    ) -> tuple[bool, str]:
        """One episode: (True, OrchestratorState JSON) or (False, the failure text the SDK raised)."""

        def fields(worker: WorkerProcess) -> dict[str, Any]:
            played = worker.played_history(instance_id, context)
            if played is None:
                return {"context": context.full_json(), "instance_id": instance_id}
            return {"context": context.current_json, "instance_id": instance_id, "history": played}

        response = await self._request(m.ORCHESTRATE, function, invocation_id, fields, key=instance_id)
        if response.get("history_miss"):
            # The worker dropped the instance's kept events (its budget) or is not the one that got them.
            worker = await self._worker_for(instance_id)
            worker.sent_history.pop(instance_id, None)
            response = await self._request(m.ORCHESTRATE, function, invocation_id, fields, key=instance_id)
        if "result" in response:
            return True, str(response["result"])
        return False, str(response.get("failure"))

    async def activity(self, function: str, invocation_id: str, instance_id: str, input_json: str | None) -> str:
        """One activity run: its result JSON text (FunctionFailed carries reason and details)."""
        response = await self._request(m.ACTIVITY, function, invocation_id, {"input": input_json}, key=None)
        return str(response["result"])

    async def entity(self, function: str, invocation_id: str, entity_id: str, request: str) -> str:
        """One entity batch: the response JSON text."""
        response = await self._request(m.ENTITY, function, invocation_id, {"request": request}, key=entity_id)
        return str(response["result"])

    async def _request(
        self,
        kind: str,
        function: str,
        invocation_id: str,
        fields: dict[str, Any] | Callable[[WorkerProcess], dict[str, Any]],
        *,
        key: str | None,
        rerun: bool = True,
    ) -> dict[str, Any]:
        runs = 0
        while True:
            worker = await self._worker_for(key)
            extra = fields(worker) if callable(fields) else fields
            request = {"type": kind, "function": function, "invocation_id": invocation_id, **extra}
            pending = worker.call(request)
            try:
                response = await asyncio.wait_for(asyncio.shield(pending.future), self.timeout_s)
            except TimeoutError:
                worker.forget(pending)
                raise self._timed_out(worker, function, invocation_id) from None
            except WorkerDied as exc:
                runs += 1
                if not rerun or runs >= MAX_RUNS_AFTER_CRASH:
                    raise FunctionFailed(
                        ErrorInfo(type="WorkerDied", message=f"{exc} while running 'Functions.{function}'")
                    ) from exc
                continue
            except asyncio.CancelledError:
                worker.forget(pending)
                raise
            if response.get("ok"):
                return response
            raise FunctionFailed(response.get("error") or ErrorInfo(message="the function failed"))

    def _timed_out(self, worker: WorkerProcess, function: str, invocation_id: str) -> FunctionTimeout:
        assert self.settings.function_timeout is not None
        message = (
            f"Timeout value of {format_timespan(self.settings.function_timeout)} exceeded by function "
            f"'Functions.{function}' (Id: '{invocation_id}'). Initiating cancellation."
        )
        log.error("%s", message)
        log.warning(
            "A function timeout has occurred. Restarting worker process executing invocationId '%s'.", invocation_id
        )
        worker.timed_out = True
        worker.kill()  # its reader notices the exit and starts the replacement
        return FunctionTimeout(message)

    async def _worker_for(self, key: str | None) -> WorkerProcess:
        if key is not None:
            slot = zlib.crc32(key.encode("utf-8")) % len(self._workers)
        else:
            # Round robin over the live workers, as the Functions host spreads invocations over its channels.
            live = [i for i, w in enumerate(self._workers) if w is not None and not w.dead]
            slot = live[next(self._turns) % len(live)] if live else 0
        while True:
            worker = self._workers[slot]
            if worker is not None and not worker.dead:
                return worker
            if self._stopping:
                raise WorkerDied(slot, None, None)
            # The slot's worker died, but its exit may not have been handled yet (the event is still set):
            # waiting on a set event would return at once and spin without yielding to the loop.
            self._ready[slot].clear()
            await self._ready[slot].wait()

    # ------------------------------------------------------------------ lifecycle of slots
    async def _start_worker(self, slot: int) -> None:
        worker = WorkerProcess(slot, self.spec, self._exited)
        started = time.perf_counter()
        await worker.start()
        self._workers[slot] = worker
        self._ready[slot].set()
        log.info(
            "Worker process %d started and initialized (pid %s, %.0f ms)",
            slot,
            worker.pid,
            (time.perf_counter() - started) * 1000,
        )

    def _exited(self, worker: WorkerProcess, orphans: list[Pending]) -> None:
        if self._workers[worker.slot] is not worker:
            return
        self._ready[worker.slot].clear()
        if self._stopping:
            return
        running = ", ".join(
            f"'Functions.{p.request.get('function')}' (Id: '{p.request.get('invocation_id')}')" for p in orphans
        )
        if worker.timed_out:
            log.info("Worker process %d (pid %s) stopped; starting a new one", worker.slot, worker.pid)
        else:
            log.error(
                "Worker process %d (pid %s) exited with %s%s; starting a new one",
                worker.slot,
                worker.pid,
                WorkerDied(worker.slot, worker.pid, worker.exit_code).code_text,
                f" while running {running}" if running else "",
            )
        task = asyncio.get_running_loop().create_task(self._restart(worker.slot), name=f"restart-worker-{worker.slot}")
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, slot: int) -> None:
        while not self._stopping:
            try:
                await self._start_worker(slot)
            except AppLoadError as exc:
                log.error(
                    "Worker process %d could not load the app; trying again in %.0f s: %s", slot, RESTART_BACKOFF_S, exc
                )
                await asyncio.sleep(RESTART_BACKOFF_S)
                continue
            self.restarts += 1
            log.info("Restart of language worker process(es) completed.")
            return
