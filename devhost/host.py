"""The host's lifecycle: load config and app, start every service, serve until stopped, stop in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from devhost.app.index import BindingInfo, FunctionIndex, IndexedFunction, ParameterKind, TriggerKind, build_index
from devhost.app.invoke import InvocationFailed, Invoker, TriggerInput
from devhost.azurite import ManagedAzurite, needs_azurite, start_azurite
from devhost.bindings.queue_output import send_messages
from devhost.bindings.runtime import BindingRuntime
from devhost.bindings.storage import StorageClients, expand_connection_string
from devhost.config import load_config
from devhost.dashboard.app import DashboardSettings, create_dashboard_app
from devhost.durable.client_binding import build_client_binding
from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions
from devhost.http.auth import AuthPolicy, Keys, dashboard_middleware, is_loopback_host, load_or_create_keys
from devhost.http.openapi import OPENAPI_PATH, describe_app
from devhost.http.server import ServerParts, create_http_app, size_limit_middleware
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from devhost.names import path_names_middleware
from devhost.triggers.http import ALL_METHODS, HttpRouter, HttpTriggerHandler
from devhost.triggers.queue import QueueListener
from devhost.triggers.timer import TimerRunner, timer_request
from devhost.workers.durable_runner import durable_functions
from devhost.workers.pool import WorkerPool, pool_settings
from devhost.workers.process import WorkerSpec

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

    @property
    def resolved_data_dir(self) -> Path:
        """--data-dir, or APP_DIR/.devhost."""
        return (self.data_dir or self.app_dir / ".devhost").resolve()


def public_host(bind_host: str) -> str:
    """The host name shown in URLs: localhost for loopback and wildcard binds, else the address."""
    if bind_host in ("0.0.0.0", "::", "") or is_loopback_host(bind_host):
        return "localhost"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def _dashboard_app(engine: DurableEngine, index: FunctionIndex) -> web.Application:
    storage = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 - the Functions setting name
    settings = DashboardSettings(
        task_hub=engine.task_hub,
        storage_connection_string=expand_connection_string(storage) if storage else None,
        queue_names=[str(f.trigger.get("queueName")) for f in index.of_kind(TriggerKind.QUEUE)],
        results_table=os.environ.get("DEVHOST_RESULTS_TABLE") or None,
        orchestrator_names=[f.name for f in index.of_kind(TriggerKind.ORCHESTRATION)],
    )
    return create_dashboard_app(engine, settings=settings, stats=engine.statistics)


class Host:
    """One running local host. run() serves until the stop event is set, then shuts down cleanly."""

    def __init__(self, options: HostOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.port: int | None = None
        self.dashboard_port: int | None = None
        self.started = asyncio.Event()

    def _print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, wait for stop, then stop everything in reverse order."""
        options = self.options
        config = load_config(options.app_dir)
        _configure_log_level(options.log_level, config.host.log_level)
        settings = dict(os.environ)
        data_dir = options.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        enforce_keys = not is_loopback_host(options.host)

        async with contextlib.AsyncExitStack() as stack:
            # The app runs in worker processes only; the first one to index it tells the host its functions.
            spec = WorkerSpec(options.app_dir.resolve(), log_level=logging.getLogger().level)
            workers = WorkerPool(spec, pool_settings(settings, config.host.function_timeout))
            metadata = await workers.start()
            stack.push_async_callback(workers.stop)
            index = build_index(metadata, settings)
            router = HttpRouter(index.functions, config.host.route_prefix)
            azurite: ManagedAzurite | None = None
            if options.azurite == "auto" and needs_azurite(settings.get("AzureWebJobsStorage")):
                # Started from this thread, which lives as long as the host (see launch_azurite); waited for
                # in another, so that the loop goes on meanwhile.
                azurite = start_azurite(data_dir)
                stack.callback(azurite.stop)
                await asyncio.to_thread(azurite.wait_until_listening)

            durable_options = config.host.durable
            engine_options = EngineOptions(
                task_hub=durable_options.hub_name,
                max_concurrent_activities=durable_options.max_concurrent_activities,
                max_concurrent_orchestrations=durable_options.max_concurrent_orchestrations,
            )
            engine = DurableEngine.open(data_dir, durable_functions(index, workers), engine_options)
            stack.push_async_callback(engine.stop)
            await engine.start()

            clients = StorageClients()
            stack.push_async_callback(clients.close)
            bindings = BindingRuntime(clients, config.host.queues.message_encoding)

            keys: Keys | None = None
            if enforce_keys:
                keys, created = load_or_create_keys(data_dir, settings)
                if created:
                    self._print(f"Generated access keys (saved in {data_dir / 'keys.json'}):")
                    self._print(f"  admin key:    {keys.admin}")
                    self._print(f"  function key: {keys.function}")
                else:
                    self._print(f"Access keys are enforced; they are in {data_dir / 'keys.json'}")
            policy = AuthPolicy(keys, enforce=enforce_keys, bind_host=options.host)

            # The functions port is bound before the client binding is needed, so port 0 can be resolved.
            port_box: dict[str, int] = {}
            origin_box: dict[str, str] = {}

            rpc_host = (
                "127.0.0.1"
                if options.host in ("0.0.0.0", "::") or is_loopback_host(options.host)
                else (public_host(options.host))
            )

            def rpc_base_url() -> str:
                return f"http://{rpc_host}:{port_box['port']}{RPC_PREFIX}/"

            def client_binding(function: IndexedFunction) -> str:
                binding = _durable_client_binding(function)
                assert binding is not None  # the invoker asks only for functions with one
                return build_client_binding(
                    origin_box["origin"] + MANAGEMENT_PREFIX,
                    rpc_base_url(),
                    str(binding.get("taskHub") or durable_options.hub_name),
                    binding.get("connectionName"),
                )

            invoker = Invoker(bindings, workers, durable_client=client_binding)
            timers = [TimerRunner(f, invoker) for f in index.of_kind(TriggerKind.TIMER)]
            listeners = [
                QueueListener(f, invoker, clients, config.host.queues) for f in index.of_kind(TriggerKind.QUEUE)
            ]

            async def admin_invoke(function: IndexedFunction, payload: str | None) -> None:
                if function.kind is TriggerKind.QUEUE:
                    listener = next(item for item in listeners if item.function is function)
                    await send_messages(listener.client, [payload or ""], config.host.queues.message_encoding)
                    return
                reason = "This function was programmatically called via the host APIs."
                trigger = TriggerInput(timer_request(past_due=False), {}, reason)
                with contextlib.suppress(InvocationFailed):
                    await invoker.invoke(function, trigger)

            port = options.port if options.port is not None else (config.local.local_http_port or 7071)
            origin = f"http://{public_host(options.host)}:{port}"
            parts = ServerParts(
                index=index,
                router=router,
                handler=HttpTriggerHandler(router, invoker, policy),
                policy=policy,
                service=engine,
                task_hub=durable_options.hub_name,
                public_origin=origin,
                admin_invoke=admin_invoke,
                cors_origins=tuple(o.strip() for o in (config.local.cors or "").split(",") if o.strip()),
            )
            http_runner = web.AppRunner(create_http_app(parts), access_log=None, shutdown_timeout=DRAIN_TIMEOUT_S)
            await http_runner.setup()
            stack.push_async_callback(http_runner.cleanup)
            await web.TCPSite(http_runner, options.host, port, reuse_address=True).start()
            self.port = _bound_port(http_runner, port)
            port_box["port"] = self.port
            origin_box["origin"] = f"http://{public_host(options.host)}:{self.port}"
            parts.public_origin = origin_box["origin"]

            dashboard = _dashboard_app(engine, index)
            dashboard.middlewares.append(dashboard_middleware(policy))
            # Bodies over aiohttp's default read limit (1 MiB) get 413 at once, not after the client sent them.
            dashboard.middlewares.insert(0, size_limit_middleware(1024 * 1024))
            dashboard.middlewares.append(path_names_middleware)
            dashboard.router.add_get(OPENAPI_PATH, _dashboard_openapi)
            dashboard_runner = web.AppRunner(dashboard, access_log=None)
            await dashboard_runner.setup()
            stack.push_async_callback(dashboard_runner.cleanup)
            await web.TCPSite(dashboard_runner, options.host, options.dashboard_port, reuse_address=True).start()
            self.dashboard_port = _bound_port(dashboard_runner, options.dashboard_port)

            self._banner(index, router, origin_box["origin"], engine.task_hub)

            # Every background task of the host is created here, and stopped, cancelled and awaited below.
            listener_tasks = [asyncio.create_task(item.run(), name=f"queue:{item.function.name}") for item in listeners]
            timer_tasks = [asyncio.create_task(item.run(), name=f"timer:{item.function.name}") for item in timers]
            tasks = listener_tasks + timer_tasks
            # What startup made lives as long as the host. Frozen, it is no longer scanned by every full
            # collection, which otherwise stalls every durable step in flight (bench/README.md has the
            # figures). Process-wide, so only here, once, at startup.
            gc.collect()
            gc.freeze()
            self.started.set()
            log.info("Host started. Press Ctrl+C to shut down.")
            try:
                await _wait_for_stop(stop, tasks)
            finally:
                log.info("Host shutting down")
                for task in timer_tasks:
                    task.cancel()
                for listener in listeners:
                    listener.stop()  # stop fetching; messages in flight may finish within DRAIN_TIMEOUT_S
                if tasks:
                    _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        log.info("Host stopped")

    def _banner(self, index: FunctionIndex, router: HttpRouter, origin: str, task_hub: str) -> None:
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
