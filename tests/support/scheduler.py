"""Run `python -m devhost scheduler` as a subprocess, and Durable Task SDK clients and workers against it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from tests.support.azurite import REPO_ROOT
from tests.support.devhost import DevHost
from tests.support.ports import free_ports
from tests.support.waiting import wait_until

STARTUP_TIMEOUT_S = 30.0
F = TypeVar("F", bound=Callable[..., Any])


def endpoint(port: int) -> str:
    """The address the SDK is given (ENDPOINT), always on loopback."""
    return f"http://127.0.0.1:{port}"


def start_scheduler(
    data_dir: Path,
    *,
    task_hubs: str = "default",
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    wait: bool = True,
) -> DevHost:
    """Start `devhost scheduler` on free ports (its gRPC port is DevHost.port and .scheduler_port)."""
    if port is None:
        port, dashboard_port = free_ports(2)
    else:
        (dashboard_port,) = free_ports(1, avoid=(port,))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    command = [
        sys.executable, "-m", "devhost", "scheduler",
        "--port", str(port),
        "--dashboard-port", str(dashboard_port),
        "--data-dir", str(data_dir),
        "--task-hubs", task_hubs,
        "--host", host,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    scheduler = DevHost(process, port, dashboard_port, data_dir, host, port)
    scheduler._reader = threading.Thread(target=scheduler._read, name="scheduler-output", daemon=True)
    scheduler._reader.start()
    if wait:
        try:
            wait_until(
                lambda: process.poll() is not None or "Scheduler started" in scheduler.output(),
                STARTUP_TIMEOUT_S,
                "devhost scheduler to start",
            )
        except AssertionError:
            scheduler.kill()
            raise
        if process.poll() is not None:
            scheduler._join_reader()
            raise RuntimeError(f"devhost scheduler exited with {process.returncode}:\n{scheduler.output()}")
    return scheduler


@contextmanager
def running_scheduler(data_dir: Path, **kwargs: object) -> Iterator[DevHost]:
    """A started `devhost scheduler` for the with-block; terminated afterwards."""
    scheduler = start_scheduler(data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield scheduler
    finally:
        scheduler.terminate()


def client(port: int, taskhub: str = "default", **kwargs: object) -> DurableTaskSchedulerClient:
    """A Durable Task Scheduler client as the SDK samples make one for the emulator (no credential, plaintext)."""
    options: dict[str, object] = {"token_credential": None, "secure_channel": False, **kwargs}
    return DurableTaskSchedulerClient(host_address=endpoint(port), taskhub=taskhub, **options)  # type: ignore[arg-type]


def worker(port: int, taskhub: str = "default", **kwargs: object) -> DurableTaskSchedulerWorker:
    """A Durable Task Scheduler worker as the SDK samples make one for the emulator (not started)."""
    options: dict[str, object] = {"token_credential": None, "secure_channel": False, **kwargs}
    return DurableTaskSchedulerWorker(host_address=endpoint(port), taskhub=taskhub, **options)  # type: ignore[arg-type]


@contextmanager
def running_worker(
    port: int, *functions: object, taskhub: str = "default", filters: bool = False, **kwargs: object
) -> Iterator[object]:
    """A started worker with the given orchestrators (marked with ``orchestrator``) and activities; with filters,
    it asks only for the names it has (durabletask's work item filters from its registry)."""
    instance = worker(port, taskhub, **kwargs)
    for function in functions:
        if getattr(function, "is_orchestrator", False):
            instance.add_orchestrator(function)  # type: ignore[arg-type]
        else:
            instance.add_activity(function)  # type: ignore[arg-type]
    if filters:
        instance.use_work_item_filters()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def orchestrator(function: F) -> F:
    """Mark a function as an orchestrator for running_worker."""
    function.is_orchestrator = True  # type: ignore[attr-defined]
    return function
