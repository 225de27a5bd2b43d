"""One worker process and its channel: start it, send requests, read responses and log records."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import devhost
from devhost.durable.models import EpisodeContext
from devhost.errors import AppLoadError
from devhost.protocol import messages as m
from devhost.protocol.framing import ChannelClosed, FrameWriter, read_frame
from devhost.protocol.messages import FunctionMetadata, PlayedHistory

log = logging.getLogger(__name__)

#: How long a new worker may take to import and index the app.
INDEX_TIMEOUT_S = 120.0
#: Instances whose sent history a WorkerProcess remembers (the worker itself keeps what fits its budget).
MAX_SENT_HISTORIES = 10_000
#: The folder that holds the devhost package: the worker's PYTHONPATH when no staged copy is given.
_DEVHOST_ROOT = Path(devhost.__file__).resolve().parents[1]


class WorkerDied(Exception):
    """The worker process exited (or its channel broke) before it answered."""

    def __init__(self, slot: int, pid: int | None, exit_code: int | None) -> None:
        self.code_text = "an unknown code" if exit_code is None else _describe_exit(exit_code)
        super().__init__(f"worker process {slot} (pid {pid}) exited with {self.code_text}")
        self.exit_code = exit_code


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker."""

    app_dir: Path
    python: str = sys.executable
    threads: int | None = None
    log_level: int = logging.INFO
    #: The folder with the worker's own code (devhost/workers/worker_code.py), first on its PYTHONPATH; None
    #: puts the folder holding devhost there instead, which only suits devhost's own interpreter.
    worker_code: Path | None = None


@dataclass
class Pending:
    """A request in flight: what it was (to run it again elsewhere) and its answer."""

    request: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]


class WorkerProcess:
    """A started worker: call() sends a request and awaits its response."""

    def __init__(self, slot: int, spec: WorkerSpec, on_exit: Callable[[WorkerProcess, list[Pending]], None]) -> None:
        self.slot = slot
        self.spec = spec
        self.functions: list[FunctionMetadata] = []
        #: The worker keeps parsed history (its SDK passed the check in devhost/worker/sdk_speedups.py).
        self.keeps_history = False
        #: What this worker was sent of each instance's played chunks: instance id -> (history key, chunks).
        self.sent_history: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self.pid: int | None = None
        self.pending: dict[int, Pending] = {}
        self.dead = False
        #: Killed by the pool because a function ran over functionTimeout (an expected exit).
        self.timed_out = False
        self.exit_code: int | None = None
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._writer: FrameWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the process and wait until it indexed the app; AppLoadError with its traceback if not."""
        host_end, worker_end = socket.socketpair()
        env = dict(os.environ)
        worker_code = str(self.spec.worker_code or _DEVHOST_ROOT)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (worker_code, env.get("PYTHONPATH")) if p)
        command = [
            self.spec.python,
            "-m",
            "devhost.worker",
            "--fd",
            str(worker_end.fileno()),
            "--app-dir",
            str(self.spec.app_dir),
            "--log-level",
            str(self.spec.log_level),
        ]
        if self.spec.threads is not None:
            command += ["--threads", str(self.spec.threads)]
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command, pass_fds=(worker_end.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=env
            )
        finally:
            worker_end.close()
        self.pid = self._process.pid
        reader, writer = await asyncio.open_unix_connection(sock=host_end)
        self._writer = FrameWriter(writer)
        try:
            first = await asyncio.wait_for(self._indexed(reader), INDEX_TIMEOUT_S)
        except (ChannelClosed, TimeoutError) as exc:
            self.kill()
            code = await self._process.wait()
            self._writer.close()
            raise AppLoadError(
                f"the worker process exited with {_describe_exit(code)} before indexing the app ({exc})"
            ) from None
        if first.get("type") == m.LOAD_ERROR:
            await self._process.wait()
            self._writer.close()
            raise AppLoadError(str(first.get("message")))
        self.functions = list(first.get("functions") or [])
        self.keeps_history = bool(first.get("keeps_history"))
        self._reader_task = asyncio.create_task(self._read(reader), name=f"worker-{self.slot}")

    async def _indexed(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        """The worker's indexed or load_error message (what the app logs while it is imported is logged)."""
        while True:
            message = await read_frame(reader)
            if message.get("type") == m.LOG:
                _log_user_record(message)
            else:
                return message

    def call(self, request: dict[str, Any]) -> Pending:
        """Send a request (a fresh id is set on it); the Pending's future gets the response."""
        if self.dead or self._writer is None:
            raise WorkerDied(self.slot, self.pid, self.exit_code)
        request_id = next(self._ids)
        request["id"] = request_id
        pending = Pending(request, asyncio.get_running_loop().create_future())
        self.pending[request_id] = pending
        self._writer.send(request)
        return pending

    def played_history(self, instance_id: str, context: EpisodeContext) -> PlayedHistory | None:
        """The history field of an orchestrate request: the chunks this worker was not sent yet."""
        if not self.keeps_history:
            return None
        key, base = self.sent_history.pop(instance_id, ("", 0))
        if key != context.history_key or base > len(context.played):
            base = 0
        self.sent_history[instance_id] = (context.history_key, len(context.played))
        while len(self.sent_history) > MAX_SENT_HISTORIES:
            self.sent_history.popitem(last=False)
        return PlayedHistory(key=context.history_key, base=base, chunks=list(context.played[base:]))

    def forget(self, pending: Pending) -> None:
        """Stop waiting for a request (its answer, if it comes, is dropped)."""
        self.pending.pop(int(pending.request["id"]), None)

    def kill(self) -> None:
        """SIGKILL the process (a timed-out function cannot be interrupted any other way)."""
        # Dead from now on, not only once the reader sees the exit: a request routed here in between would be
        # lost with the process (an HTTP call right after a timeout failed so), where it should wait for the
        # replacement, as the host's new invocations wait for its restarted language worker.
        self.dead = True
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def stop(self, grace_s: float) -> None:
        """Close the channel (the worker exits by itself), kill it after grace_s, reap it."""
        if self._writer is not None:
            self._writer.close()
        if self._process is None:
            return
        try:
            await asyncio.wait_for(self._process.wait(), grace_s)
        except TimeoutError:
            self.kill()
            await self._process.wait()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await read_frame(reader)
                kind = message.get("type")
                if kind == m.RESPONSE:
                    pending = self.pending.pop(int(message.get("id", 0)), None)
                    if pending is not None and not pending.future.done():
                        pending.future.set_result(message)
                elif kind == m.LOG:
                    _log_user_record(message)
        except ChannelClosed:
            pass
        finally:
            self.dead = True
            assert self._process is not None
            self.exit_code = await self._process.wait()
            if self._writer is not None:
                self._writer.close()  # the channel's socket (left half-open by the worker's EOF) is ours to close
            error = WorkerDied(self.slot, self.pid, self.exit_code)
            orphans = list(self.pending.values())
            self.pending.clear()
            # Told first, so that the log names what was running before the retries start.
            self._on_exit(self, orphans)
            for pending in orphans:
                if not pending.future.done():
                    pending.future.set_exception(error)


def _log_user_record(message: dict[str, Any]) -> None:
    logger = logging.getLogger(str(message.get("logger") or "root"))
    level = int(message.get("level") or logging.INFO)
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message.get("message"))
