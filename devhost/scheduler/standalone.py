"""`devhost scheduler`: the Durable Task Scheduler endpoint and the dashboard alone (no app, no Azurite).

This is the job of the scheduler emulator's container (gRPC on :8080, dashboard on :8082), persisted: each
task hub named by --task-hubs is an engine on its own SQLite store in DATA_DIR/hubs/NAME/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from devhost.auth import AuthPolicy, dashboard_middleware, load_or_create_keys
from devhost.dashboard.settings import hub_path
from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions
from devhost.errors import ConfigError
from devhost.net import is_loopback_host
from devhost.scheduler.dashboards import hubs_dashboard
from devhost.scheduler.dispatch import WorkDispatcher
from devhost.scheduler.server import SchedulerEndpoint, scheduler_origin
from devhost.scheduler.servicer import TaskHub

log = logging.getLogger(__name__)

#: Task hub names as the scheduler takes them: letters, digits and '-', starting and ending with a letter or
#: digit (they also name a folder, and a dashboard path /hubs/NAME/).
_HUB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?")
#: Work items the engine hands to gRPC workers at once, per kind: each waits in the engine until a worker
#: answers, so this bounds what one hub has out, not what it stores.
MAX_OUTSTANDING = 1000


def parse_task_hubs(text: str) -> tuple[str, ...]:
    """The hub names of --task-hubs (comma separated); ConfigError naming a bad one."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ConfigError("--task-hubs needs at least one task hub name, e.g. --task-hubs default")
    for name in names:
        if not _HUB_NAME.fullmatch(name):
            raise ConfigError(
                f"task hub name {name!r} is not valid: "
                "use 1-64 letters, digits and '-', starting and ending with a letter or digit"
            )
    if len({name.lower() for name in names}) != len(names):
        raise ConfigError(f"--task-hubs names a task hub twice (names are case-insensitive): {text}")
    return names


@dataclass(frozen=True)
class SchedulerOptions:
    """Command-line options of `devhost scheduler`."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    dashboard_port: int = 8082
    task_hubs: tuple[str, ...] = ("default",)


class StandaloneScheduler:
    """The endpoint and the dashboard over one engine per task hub; run() serves until the stop event."""

    def __init__(self, options: SchedulerOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.started = asyncio.Event()
        self.hubs: list[TaskHub] = []
        self.endpoint: SchedulerEndpoint | None = None
        self.dashboard_port: int | None = None

    def _print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Open the hubs, serve the endpoint and the dashboard, wait for stop, then stop in reverse."""
        options = self.options
        async with contextlib.AsyncExitStack() as stack:
            for name in options.task_hubs:
                self.hubs.append(await self._open_hub(stack, name))
            policy = self._auth_policy()
            admin_key = policy.keys.admin if policy.enforce and policy.keys is not None else None
            self.endpoint = SchedulerEndpoint(self.hubs, options.host, options.port, admin_key)
            await self.endpoint.start()
            stack.push_async_callback(self.endpoint.stop)
            await self._serve_dashboard(stack, policy)
            self._banner()
            self.started.set()
            log.info("Scheduler started. Press Ctrl+C to shut down.")
            await stop.wait()
            log.info("Scheduler shutting down")
        log.info("Scheduler stopped")

    async def _open_hub(self, stack: contextlib.AsyncExitStack, name: str) -> TaskHub:
        dispatcher = WorkDispatcher(name)
        functions = DurableFunctions(runner=dispatcher, open_names=True)
        engine_options = EngineOptions(
            task_hub=name, max_concurrent_activities=MAX_OUTSTANDING, max_concurrent_orchestrations=MAX_OUTSTANDING
        )
        engine = DurableEngine.open(self.options.data_dir / "hubs" / name, functions, engine_options)
        dispatcher.bind(engine.get_history, engine.unpark)
        stack.push_async_callback(engine.stop)
        await engine.start()
        return TaskHub(name, engine, dispatcher)

    def _auth_policy(self) -> AuthPolicy:
        enforce = not is_loopback_host(self.options.host)
        if not enforce:
            return AuthPolicy(None, enforce=False, bind_host=self.options.host)
        keys, created = load_or_create_keys(self.options.data_dir, dict(os.environ))
        where = self.options.data_dir / "keys.json"
        self._print(
            f"Generated the admin key (saved in {where}): {keys.admin}" if created else f"Admin key: in {where}"
        )
        return AuthPolicy(keys, enforce=True, bind_host=self.options.host)

    async def _serve_dashboard(self, stack: contextlib.AsyncExitStack, policy: AuthPolicy) -> None:
        """The dashboard: the first hub at /, each other hub at /hubs/NAME/ (devhost/scheduler/dashboards.py)."""
        front = hubs_dashboard(self.hubs)
        front.middlewares.append(dashboard_middleware(policy))
        runner = web.AppRunner(front, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self.options.host, self.options.dashboard_port, reuse_address=True)
        await site.start()
        self.dashboard_port = next(
            (int(a[1]) for a in runner.addresses if isinstance(a, tuple) and len(a) >= 2), self.options.dashboard_port
        )

    def _banner(self) -> None:
        assert self.endpoint is not None and self.endpoint.port is not None
        host = (
            "localhost"
            if is_loopback_host(self.options.host) or self.options.host in ("0.0.0.0", "::")
            else self.options.host
        )
        self._print()
        self._print(f"Durable Task Scheduler endpoint: {scheduler_origin(host, self.endpoint.port)}")
        self._print(f"Task hubs: {', '.join(hub.name for hub in self.hubs)} (data in {self.options.data_dir / 'hubs'})")
        names = [hub.name for hub in self.hubs]
        for index, name in enumerate(names):
            label = "Dashboard:" if index == 0 else ""
            self._print(f"{label:<11}http://{host}:{self.dashboard_port}{hub_path(names, name)} (task hub {name})")
        self._print()
