"""The worker process's main loop: index the app, then answer the host's requests until it goes away."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devhost.lifetime import parent_death_request
from devhost.protocol import messages as m
from devhost.protocol.framing import ChannelClosed, FrameWriter, encode_frame, read_frame
from devhost.protocol.messages import ErrorInfo
from devhost.worker import conversions, durable, sdk_speedups
from devhost.worker.context import InvocationContext, OutValue, TraceContext
from devhost.worker.history import KeptHistories
from devhost.worker.indexing import IndexingError, WorkerFunction, load_functions

#: The invocation a log record belongs to (set around every user call, copied into pool threads).
current_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation", default=None)
#: Exit code of a worker whose user code raised SystemExit without a number, or ran out of memory.
FATAL_EXIT_CODE = 1


class Channel:
    """The worker's end of the socketpair; writes may come from any thread."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames = FrameWriter(writer)
        self.loop = asyncio.get_running_loop()
        self._loop_thread = _thread_id()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message for the host (thread-safe; encoded in the calling thread)."""
        frame = encode_frame(message)
        if _thread_id() == self._loop_thread:
            self.frames.write(frame)
        else:
            self.loop.call_soon_threadsafe(self.frames.write, frame)


def _thread_id() -> int:
    return threading.get_ident()


class ForwardingHandler(logging.Handler):
    """Sends user code's log records to the host, which prints them in its own log."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self.channel = channel
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info or record.stack_info:
                full = self._formatter.format(record)
                text += full[len(record.getMessage()) :]
            self.channel.send(
                {
                    "type": m.LOG,
                    "level": record.levelno,
                    "logger": record.name,
                    "message": text,
                    "invocation_id": current_invocation.get(),
                }
            )
        except Exception:
            self.handleError(record)


class Worker:
    """Runs requests for the indexed functions: sync ones on the thread pool, async ones on the loop."""

    def __init__(self, channel: Channel, functions: list[WorkerFunction], app_dir: Path, threads: int | None) -> None:
        self.channel = channel
        self.functions = {f.name.lower(): f for f in functions}
        self.app_dir = app_dir
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="function")
        self.tasks: set[asyncio.Task[None]] = set()
        self.episodes = durable.EpisodeWatch()
        self.histories = KeptHistories()

    async def watch_episodes(self) -> None:
        """Log a warning for each orchestrator episode that blocks (runs until cancelled)."""
        log = logging.getLogger(__name__)
        while True:
            await asyncio.sleep(0.25)
            for line in self.episodes.overdue():
                log.warning("%s", line)

    async def serve(self) -> None:
        """Answer requests until the host closes the channel."""
        watch = asyncio.create_task(self.watch_episodes(), name="episode-watch")
        try:
            await self._serve()
        finally:
            watch.cancel()

    async def _serve(self) -> None:
        while True:
            try:
                request = await read_frame(self.channel.reader)
            except ChannelClosed:
                return
            task = asyncio.create_task(self._answer(request))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        request_id = request.get("id")
        kind = request.get("type")
        function = self.functions.get(str(request.get("function", "")).lower())
        token = current_invocation.set(request.get("invocation_id"))
        try:
            if function is None:
                raise LookupError(f"the worker has no function named {request.get('function')!r}")
            if kind == m.ORCHESTRATE:
                answer = await self._orchestrate(function, request)
            elif kind == m.ACTIVITY:
                answer = await self._activity(function, request)
            elif kind == m.ENTITY:
                answer = await self._entity(function, request)
            elif kind == m.INVOKE:
                answer = await self._invoke(function, request)
            else:
                raise ValueError(f"unknown request type {kind!r}")
            response: dict[str, Any] = {"type": m.RESPONSE, "id": request_id, "ok": True, **answer}
        except durable.ActivityError as exc:
            response = {"type": m.RESPONSE, "id": request_id, "ok": False, "error": exc.info()}
        except BaseException as exc:
            if _is_fatal(exc):
                _die(function.name if function else str(request.get("function")), exc)
            response = {"type": m.RESPONSE, "id": request_id, "ok": False, "error": _error_info(exc)}
        finally:
            current_invocation.reset(token)
        self.channel.send(response)

    async def _in_pool(self, call: Callable[[], Any]) -> Any:
        # copy_context: the invocation id (and any contextvar user code set) follows into the thread.
        context = contextvars.copy_context()
        return await self.channel.loop.run_in_executor(self.executor, context.run, call)

    async def _orchestrate(self, function: WorkerFunction, request: dict[str, Any]) -> dict[str, Any]:
        instance_id = str(request.get("instance_id"))
        episode = functools.partial(
            durable.run_orchestrator,
            function.user_function,
            request["context"],
            self.histories,
            instance_id,
            request.get("history"),
        )
        watched = functools.partial(self.episodes.run, request["invocation_id"], function.name, instance_id, episode)
        answer = await self._in_pool(watched)
        if answer is None:
            return {"history_miss": True}
        ok, text = answer
        return {"result" if ok else "failure": text}

    async def _activity(self, function: WorkerFunction, request: dict[str, Any]) -> dict[str, Any]:
        input_json = request.get("input")
        if function.is_async:
            pending = function.user_function(
                **{durable.activity_input_name(function.bindings): durable.decode_activity_input(input_json)}
            )
            return {"result": await durable.finish_activity(function.name, pending)}
        call = functools.partial(
            durable.run_sync_activity,
            function.name,
            function.user_function,
            durable.activity_input_name(function.bindings),
            input_json,
        )
        result = await self._in_pool(call)
        if not isinstance(result, str):  # a sync function returned an awaitable: finish it on the loop
            result = await durable.finish_activity(function.name, result)
        return {"result": result}

    async def _entity(self, function: WorkerFunction, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "result": await self._in_pool(
                functools.partial(durable.run_entity, function.user_function, request["request"])
            )
        }

    async def _invoke(self, function: WorkerFunction, request: dict[str, Any]) -> dict[str, Any]:
        inputs: dict[str, Any] = request.get("inputs") or {}
        trigger_type = str(function.trigger.get("type"))
        kwargs: dict[str, Any] = {}
        outs: dict[str, OutValue] = {}
        for name, (kind, binding) in function.parameters.items():
            annotation = function.annotations.get(name)
            if kind == "trigger":
                kwargs[name] = conversions.trigger_value(trigger_type, request.get("trigger") or {}, annotation)
            elif kind == "context":
                trace = TraceContext(request.get("trace_parent"), request.get("trace_state"))
                kwargs[name] = InvocationContext(request["invocation_id"], function.name, str(self.app_dir), trace)
            elif kind == "output":
                outs[name] = kwargs[name] = OutValue()
            else:
                assert binding is not None
                data = inputs.get(str(binding.get("name")))
                kwargs[name] = conversions.input_value(binding, data, annotation)
        if function.is_async:
            value = await function.user_function(**kwargs)
        else:
            value = await self._in_pool(functools.partial(function.user_function, **kwargs))
        by_binding = {
            str(binding["name"]): outs[param].get()
            for param, (_, binding) in function.parameters.items()
            if param in outs and binding is not None
        }
        outputs: dict[str, Any] = {}
        for binding in function.bindings:
            if str(binding.get("direction", "")).lower() != "out":
                continue
            name = str(binding.get("name"))
            outputs[name] = conversions.output_data(
                binding, value if name == "$return" else by_binding.get(name), function.name
            )
        return {"outputs": outputs}


def _is_fatal(exc: BaseException) -> bool:
    # SystemExit ends a Python program wherever it is raised, and after a MemoryError nothing in the
    # process can be trusted: the worker goes down and the host starts another, as it would for a crash.
    return isinstance(exc, SystemExit | KeyboardInterrupt | MemoryError)


def _die(function_name: str, exc: BaseException) -> None:
    code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else FATAL_EXIT_CODE
    print(
        f"Function '{function_name}' raised {type(exc).__name__}; the worker process {os.getpid()} exits "
        f"with code {code}",
        file=sys.stderr,
        flush=True,
    )
    os._exit(code)


def _error_info(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(
        type=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)).rstrip(),
    )


async def _run(fd: int, app_dir: Path, threads: int | None, log_level: int) -> int:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    channel = Channel(reader, writer)
    root = logging.getLogger()
    root.handlers[:] = [ForwardingHandler(channel)]
    root.setLevel(log_level)
    # The storage SDKs log every HTTP request at INFO; that drowns the invocation lines (as on the host).
    logging.getLogger("azure").setLevel(max(logging.WARNING, log_level))
    sdk_speedups.install()
    try:
        functions = load_functions(app_dir)
    except IndexingError as exc:
        channel.send({"type": m.LOAD_ERROR, "message": str(exc)})
        await writer.drain()
        return 1
    channel.send(
        {
            "type": m.INDEXED,
            "pid": os.getpid(),
            "functions": [f.metadata() for f in functions],
            "keeps_history": sdk_speedups.keeps_history(),
        }
    )
    worker = Worker(channel, functions, app_dir, threads)
    await worker.serve()
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devhost.worker --fd N --app-dir DIR`: started by the host, never by hand."""
    parser = argparse.ArgumentParser(prog="python -m devhost.worker")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket to the host")
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--threads", type=_positive, default=None, help="PYTHON_THREADPOOL_THREAD_COUNT")
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    args = parser.parse_args(argv)
    # Killed with the host, even by kill -9, instead of outliving it next to the app.
    request = parent_death_request(signal.SIGKILL, os.getppid())
    if request is not None:
        request()
    # Ctrl+C in the terminal reaches the whole process group: the host decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = asyncio.run(_run(args.fd, args.app_dir.resolve(), args.threads, args.log_level))
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads still running user code (a sleeping function) must not keep a worker whose host is gone.
    os._exit(code)
