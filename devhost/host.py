"""The host's lifecycle: load config and app, start every service, serve until stopped, stop in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from devhost.app.index import BindingInfo, FunctionIndex, IndexedFunction, ParameterKind, TriggerKind, build_index
from devhost.auth import AuthPolicy, Keys, dashboard_middleware, load_or_create_keys
from devhost.azurite import needs_azurite, start_azurite
from devhost.bindings.queue_output import send_messages
from devhost.bindings.runtime import BindingRuntime
from devhost.bindings.storage import StorageClients, expand_connection_string
from devhost.config import load_config
from devhost.dashboard.app import DashboardSettings, create_dashboard_app
from devhost.durable.client_binding import build_client_binding
from devhost.durable.clock import virtual_time_enabled
from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions
from devhost.errors import InvalidRequestError
from devhost.http.openapi import OPENAPI_PATH, describe_app
from devhost.http.server import ServerParts, create_http_app, size_limit_middleware
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from devhost.net import is_loopback_host
from devhost.scheduler.dispatch import WorkDispatcher
from devhost.scheduler.routing import with_scheduler
from devhost.scheduler.server import SchedulerEndpoint, scheduler_origin
from devhost.scheduler.servicer import TaskHub
from devhost.triggers.blob import BlobTriggerListener, ManualRunError
from devhost.triggers.blob_receipts import ReceiptStore
from devhost.triggers.http import ALL_METHODS, HttpRouter, HttpTriggerHandler
from devhost.triggers.invoke import HOST_API_REASON, InvocationFailed, Invoker, TriggerInput
from devhost.triggers.queue import QueueListener
from devhost.triggers.timer import TimerRunner, timer_request
from devhost.web import path_names_middleware
from devhost.workers.durable_runner import durable_functions
from devhost.workers.interpreter import choose_interpreter, probe_interpreter
from devhost.workers.pool import WorkerPool, pool_settings
from devhost.workers.process import WorkerSpec
from devhost.workers.worker_code import stage_worker_code

log = logging.getLogger(__name__)

#: How long in-flight queue messages may finish after Ctrl-C before they are cancelled.
DRAIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HostOptions:
    """Command-line options of `python -m devhost start`."""

    app_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    dashboard_port: int = 8082
    data_dir: Path | None = None
    azurite: str = "auto"
    log_level: str | None = None
    #: --scheduler-port: the Durable Task Scheduler gRPC endpoint's port (None: off).
    scheduler_port: int | None = 8080
    #: --python: the interpreter for the app's workers (None: VIRTUAL_ENV, APP_DIR/.venv, devhost's own).
    python: Path | None = None

    @property
    def resolved_data_dir(self) -> Path:
        """--data-dir, or APP_DIR/.devhost."""
        return (self.data_dir or self.app_dir / ".devhost").resolve()


def public_host(bind_host: str) -> str:
    """The host name shown in URLs: localhost for loopback and wildcard binds, else the address."""
    if bind_host in ("0.0.0.0", "::", "") or is_loopback_host(bind_host):
        return "localhost"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def _dashboard_app(
    engine: DurableEngine, index: FunctionIndex, blob_triggers: list[BlobTriggerListener]
) -> web.Application:
    storage = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 - the Functions setting name
    settings = DashboardSettings(
        task_hub=engine.task_hub,
        storage_connection_string=expand_connection_string(storage) if storage else None,
        queue_names=[str(f.trigger.get("queueName")) for f in index.of_kind(TriggerKind.QUEUE)],
        results_table=os.environ.get("DEVHOST_RESULTS_TABLE") or None,
        orchestrator_names=[f.name for f in index.of_kind(TriggerKind.ORCHESTRATION)],
        blob_triggers=blob_triggers,
    )
    return create_dashboard_app(engine, settings=settings, stats=engine.statistics, waiting=engine.waiting_work)


class Host:
    """One running local host. run() serves until the stop event is set, then shuts down cleanly.

    run() performs the start steps below in order, each registering how to undo itself on one exit stack,
    so that shutdown is the same steps in reverse. What a step makes is kept on the host for the later ones.
    """

    def __init__(self, options: HostOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.port: int | None = None
        self.dashboard_port: int | None = None
        self.started = asyncio.Event()
        self.config = load_config(options.app_dir)
        self.settings = dict(os.environ)
        self.data_dir = options.resolved_data_dir
        # Made by the start steps.
        self.workers: WorkerPool | None = None
        self.index: FunctionIndex | None = None
        self.engine: DurableEngine | None = None
        #: Hands work the app does not define to gRPC workers (None with --scheduler-port off).
        self.dispatcher: WorkDispatcher | None = None
        self.scheduler: SchedulerEndpoint | None = None
        self.clients: StorageClients | None = None
        self.invoker: Invoker | None = None
        self.router: HttpRouter | None = None
        self.listeners: list[QueueListener] = []
        self.blob_listeners: list[BlobTriggerListener] = []
        self.timers: list[TimerRunner] = []
        #: The functions port's public origin (http://localhost:7071), known once the port is bound.
        self.origin: str | None = None

    def _print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, wait for stop, then stop everything in reverse order."""
        _configure_log_level(self.options.log_level, self.config.host.log_level)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as stack:
            await self._start_workers(stack)
            await self._start_azurite(stack)
            await self._start_engine(stack)
            self._make_triggers(stack)
            policy = self._auth_policy()
            await self._serve_functions(stack, policy)
            await self._serve_dashboard(stack, policy)
            await self._serve_scheduler(stack, policy)
            self._banner()
            await self._run_triggers(stop)
        log.info("Host stopped")

    async def _start_workers(self, stack: contextlib.AsyncExitStack) -> None:
        """The app's worker processes, in the app's Python; the first to index the app tells the host its functions."""
        app_dir = self.options.app_dir.resolve()
        choice = choose_interpreter(app_dir, self.options.python, self.settings)
        interpreter = await asyncio.to_thread(probe_interpreter, choice)
        log.info(
            "Worker runtime: Python %s at %s (%s); %s",
            interpreter.version_text,
            interpreter.path,
            interpreter.reason,
            ", ".join(f"{name} {version}" for name, version in interpreter.packages.items()),
        )
        spec = WorkerSpec(
            app_dir,
            python=str(interpreter.path),
            log_level=logging.getLogger().level,
            worker_code=stage_worker_code(self.data_dir),
        )
        self.workers = WorkerPool(spec, pool_settings(self.settings, self.config.host.function_timeout))
        metadata = await self.workers.start()
        stack.push_async_callback(self.workers.stop)
        self.index = build_index(metadata, self.settings)

    async def _start_azurite(self, stack: contextlib.AsyncExitStack) -> None:
        """--azurite auto: the repository's Azurite, when the app uses development storage and none runs."""
        if self.options.azurite != "auto" or not needs_azurite(self.settings.get("AzureWebJobsStorage")):
            return
        # Started from this thread, which lives as long as the host (see launch_azurite); waited for in
        # another, so that the loop goes on meanwhile.
        azurite = start_azurite(self.data_dir, app_dir=self.options.app_dir)
        stack.callback(azurite.stop)
        await asyncio.to_thread(azurite.wait_until_listening)

    async def _start_engine(self, stack: contextlib.AsyncExitStack) -> None:
        """The durable engine on the task hub in the data directory."""
        assert self.index is not None and self.workers is not None
        durable = self.config.host.durable
        options = EngineOptions(
            task_hub=durable.hub_name,
            max_concurrent_activities=durable.max_concurrent_activities,
            max_concurrent_orchestrations=durable.max_concurrent_orchestrations,
            virtual_time=virtual_time_enabled(self.settings),
        )
        functions = durable_functions(self.index, self.workers)
        if self.options.scheduler_port is not None:
            self.dispatcher = WorkDispatcher(durable.hub_name)
            functions = with_scheduler(functions, self.dispatcher)
        self.engine = DurableEngine.open(self.data_dir, functions, options)
        if self.dispatcher is not None:
            self.dispatcher.bind(self.engine.get_history, self.engine.unpark)
        stack.push_async_callback(self.engine.stop)
        await self.engine.start()

    def _make_triggers(self, stack: contextlib.AsyncExitStack) -> None:
        """Storage clients, bindings, the invoker and the queue and timer triggers (not running yet)."""
        assert self.index is not None and self.workers is not None
        self.clients = StorageClients()
        stack.push_async_callback(self.clients.close)
        bindings = BindingRuntime(self.clients, self.config.host.queues.message_encoding)
        self.invoker = Invoker(bindings, self.workers, durable_client=self._client_binding)
        self.timers = [TimerRunner(f, self.invoker) for f in self.index.of_kind(TriggerKind.TIMER)]
        self.listeners = [
            QueueListener(f, self.invoker, self.clients, self.config.host.queues)
            for f in self.index.of_kind(TriggerKind.QUEUE)
        ]
        blob_functions = self.index.of_kind(TriggerKind.BLOB)
        if blob_functions:
            receipts = ReceiptStore.open(self.data_dir)
            stack.push_async_callback(receipts.close)
            self.blob_listeners = [
                BlobTriggerListener(f, self.invoker, self.clients, self.config.host.queues, receipts)
                for f in blob_functions
            ]

    def _client_binding(self, function: IndexedFunction) -> str:
        """The durableClient binding's JSON for a function (the invoker asks once the functions port is bound)."""
        binding = _durable_client_binding(function)
        assert binding is not None and self.origin is not None and self.port is not None
        host = self.options.host
        # The worker reaches the host's RPC mount on loopback whenever the host listens there.
        rpc_host = "127.0.0.1" if host in ("0.0.0.0", "::") or is_loopback_host(host) else public_host(host)
        return build_client_binding(
            self.origin + MANAGEMENT_PREFIX,
            f"http://{rpc_host}:{self.port}{RPC_PREFIX}/",
            str(binding.get("taskHub") or self.config.host.durable.hub_name),
            binding.get("connectionName"),
        )

    def _auth_policy(self) -> AuthPolicy:
        """Keys are enforced beyond loopback: loaded, or made and printed once."""
        enforce = not is_loopback_host(self.options.host)
        keys: Keys | None = None
        if enforce:
            keys, created = load_or_create_keys(self.data_dir, self.settings)
            if created:
                self._print(f"Generated access keys (saved in {self.data_dir / 'keys.json'}):")
                self._print(f"  admin key:    {keys.admin}")
                self._print(f"  function key: {keys.function}")
            else:
                self._print(f"Access keys are enforced; they are in {self.data_dir / 'keys.json'}")
        return AuthPolicy(keys, enforce=enforce, bind_host=self.options.host)

    async def _serve_functions(self, stack: contextlib.AsyncExitStack, policy: AuthPolicy) -> None:
        """The functions port: HTTP triggers, the management API and the admin routes."""
        assert self.index is not None and self.invoker is not None and self.engine is not None
        options, config = self.options, self.config
        self.router = router = HttpRouter(self.index.functions, config.host.route_prefix)
        port = options.port if options.port is not None else (config.local.local_http_port or 7071)
        parts = ServerParts(
            index=self.index,
            router=router,
            handler=HttpTriggerHandler(router, self.invoker, policy),
            policy=policy,
            service=self.engine,
            task_hub=config.host.durable.hub_name,
            public_origin=f"http://{public_host(options.host)}:{port}",
            admin_invoke=self._admin_invoke,
            cors_origins=tuple(o.strip() for o in (config.local.cors or "").split(",") if o.strip()),
            clock=(self.engine.clock.now, self.engine.advance_clock) if self.engine.options.virtual_time else None,
        )
        runner = web.AppRunner(create_http_app(parts), access_log=None, shutdown_timeout=DRAIN_TIMEOUT_S)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, options.host, port, reuse_address=True).start()
        # Port 0 asks for a free port: URLs and the client binding use the one bound.
        self.port = _bound_port(runner, port)
        self.origin = parts.public_origin = f"http://{public_host(options.host)}:{self.port}"

    async def _admin_invoke(self, function: IndexedFunction, payload: str | None) -> None:
        """POST /admin/functions/{name}: a queue function gets the payload as a message, a blob function runs
        for the blob the payload names ("container/blob"), a timer function runs now."""
        assert self.invoker is not None
        if function.kind is TriggerKind.QUEUE:
            listener = next(item for item in self.listeners if item.function is function)
            await send_messages(listener.client, [payload or ""], self.config.host.queues.message_encoding)
            return
        if function.kind is TriggerKind.BLOB:
            blob_listener = next(item for item in self.blob_listeners if item.function is function)
            try:
                await blob_listener.run_manually(payload or "")
            except ManualRunError as exc:
                raise InvalidRequestError(str(exc)) from None
            return
        with contextlib.suppress(InvocationFailed):
            await self.invoker.invoke(function, TriggerInput(timer_request(past_due=False), {}, HOST_API_REASON))

    async def _serve_dashboard(self, stack: contextlib.AsyncExitStack, policy: AuthPolicy) -> None:
        """The dashboard port."""
        assert self.engine is not None and self.index is not None
        dashboard = _dashboard_app(self.engine, self.index, self.blob_listeners)
        dashboard.middlewares.append(dashboard_middleware(policy))
        # Bodies over aiohttp's default read limit (1 MiB) get 413 at once, not after the client sent them.
        dashboard.middlewares.insert(0, size_limit_middleware(1024 * 1024))
        dashboard.middlewares.append(path_names_middleware)
        dashboard.router.add_get(OPENAPI_PATH, _dashboard_openapi)
        runner = web.AppRunner(dashboard, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, self.options.host, self.options.dashboard_port, reuse_address=True).start()
        self.dashboard_port = _bound_port(runner, self.options.dashboard_port)

    async def _serve_scheduler(self, stack: contextlib.AsyncExitStack, policy: AuthPolicy) -> None:
        """The Durable Task Scheduler's gRPC endpoint over the app's task hub (--scheduler-port)."""
        if self.options.scheduler_port is None or self.dispatcher is None:
            return
        assert self.engine is not None
        hub = TaskHub(self.engine.task_hub, self.engine, self.dispatcher)
        admin_key = policy.keys.admin if policy.enforce and policy.keys is not None else None
        self.scheduler = SchedulerEndpoint([hub], self.options.host, self.options.scheduler_port, admin_key)
        await self.scheduler.start()
        stack.push_async_callback(self.scheduler.stop)

    async def _run_triggers(self, stop: asyncio.Event) -> None:
        """Run the queue and timer triggers until stop; then let messages in flight finish (DRAIN_TIMEOUT_S).

        Every background task of the host is created here, and stopped, cancelled and awaited here.
        """
        listener_tasks = [
            asyncio.create_task(item.run(), name=f"queue:{item.function.name}") for item in self.listeners
        ]
        listener_tasks += [
            asyncio.create_task(item.run(), name=f"blob:{item.function.name}") for item in self.blob_listeners
        ]
        timer_tasks = [asyncio.create_task(item.run(), name=f"timer:{item.function.name}") for item in self.timers]
        tasks = listener_tasks + timer_tasks
        self.started.set()
        log.info("Host started. Press Ctrl+C to shut down.")
        try:
            await _wait_for_stop(stop, tasks)
        finally:
            log.info("Host shutting down")
            for task in timer_tasks:
                task.cancel()
            for listener in self.listeners:
                listener.stop()  # stop fetching; messages in flight may finish within DRAIN_TIMEOUT_S
            for blob_listener in self.blob_listeners:
                blob_listener.stop()  # stop scanning; invocations in flight may finish within DRAIN_TIMEOUT_S
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _banner(self) -> None:
        assert self.index is not None and self.engine is not None and self.origin is not None
        assert self.router is not None
        index, router, origin, task_hub = self.index, self.router, self.origin, self.engine.task_hub
        self._print()
        self._print("Functions:")
        self._print()
        for function in index.functions:
            if function.kind is TriggerKind.HTTP:
                route = next(r for r in router.routes if r.function is function)
                methods = ",".join(m for m in ALL_METHODS if m in route.methods)
                self._print(f"  {function.name}: [{methods}] {origin}{router.url_path(route)}")
            else:
                self._print(f"  {function.name}: {function.kind.value}")
        self._print()
        dashboard_origin = f"http://{public_host(self.options.host)}:{self.dashboard_port}"
        self._print(f"Dashboard: {dashboard_origin}/")
        self._print(f"Durable management API: {origin}{MANAGEMENT_PREFIX} (task hub {task_hub})")
        if self.scheduler is not None and self.scheduler.port is not None:
            endpoint = scheduler_origin(public_host(self.options.host), self.scheduler.port)
            self._print(f"Durable Task Scheduler endpoint: {endpoint} (TASKHUB={task_hub})")
        self._print()


async def _dashboard_openapi(request: web.Request) -> web.Response:
    """The dashboard port's JSON API as an OpenAPI document."""
    return web.json_response(describe_app(request.app, "devhost dashboard"))


def _durable_client_binding(function: IndexedFunction) -> BindingInfo | None:
    """The function's durableClient binding, if it has one."""
    return next((b for b in function.bindings if b.type == ParameterKind.DURABLE_CLIENT.value), None)


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


async def _wait_for_stop(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Wait for the stop event; a background task dying unexpectedly is logged, not fatal."""
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    watching = set(tasks)
    try:
        while not stop.is_set():
            done, _ = await asyncio.wait({stop_task, *watching}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop_task}:
                watching.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s stopped unexpectedly", task.get_name(), exc_info=task.exception())
    finally:
        stop_task.cancel()


def _configure_log_level(cli_level: str | None, host_level: int | None) -> None:
    root = logging.getLogger()
    if cli_level:
        root.setLevel(cli_level.upper())
    elif host_level is not None:
        root.setLevel(host_level)
    # The storage SDKs log every HTTP request at INFO; that drowns the invocation lines.
    for noisy in ("azure", "azure.core.pipeline.policies.http_logging_policy"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
