"""A devhost process for tests: `python -m devhost start` on free ports with a fresh data folder, virtual time on.

The process is the one developers run (workers, engine, triggers, management API), so a test sees what the
app does under devhost, not a simulation of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devhost.durable.clock import VIRTUAL_TIME_SETTING
from devhost.net import free_ports

#: How long the host may take to answer /admin/host/status (workers import the app first).
STARTUP_TIMEOUT_S = 60.0
#: How long a stopping host may drain before it is killed.
STOP_TIMEOUT_S = 30.0


class HostStartError(Exception):
    """The host exited or did not answer in time; the message holds its output."""


@dataclass
class HostProcess:
    """One running `python -m devhost start` and its output, line by line."""

    process: subprocess.Popen[bytes]
    port: int
    dashboard_port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the host printed so far."""
        return "\n".join(list(self.lines))

    def stop(self) -> int | None:
        """SIGTERM (a clean shutdown), then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.process.returncode

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as stream:
            for raw in stream:
                self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))


def start_arguments(
    app_dir: Path,
    port: int,
    dashboard_port: int,
    data_dir: Path,
    *,
    bind: str = "127.0.0.1",
    azurite: str = "off",
    scheduler_port: int | None = None,
) -> list[str]:
    """`devhost start`'s arguments (after the program) for a host on the given ports. Azurite is off by default:
    a test session starts (or reuses) one itself. So is the scheduler endpoint unless a port is given: its
    fixed 8080 would clash with a developer's running host."""
    return [
        "start",
        "--app-dir", str(app_dir),
        "--port", str(port),
        "--dashboard-port", str(dashboard_port),
        "--data-dir", str(data_dir),
        "--host", bind,
        "--azurite", azurite,
        "--scheduler-port", "off" if scheduler_port is None else str(scheduler_port),
    ]  # fmt: skip


def start_host(app_dir: Path, data_dir: Path, env: Mapping[str, str]) -> HostProcess:
    """Start devhost for app_dir and wait until it answers; HostStartError with its output when it cannot."""
    port, dashboard_port = free_ports(2)
    command = [sys.executable, "-m", "devhost", *start_arguments(app_dir, port, dashboard_port, data_dir)]
    process_env = {**env, VIRTUAL_TIME_SETTING: "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=app_dir, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    host = HostProcess(process, port, dashboard_port, data_dir)
    host._reader = threading.Thread(target=host._read, name="devhost-output", daemon=True)
    host._reader.start()
    try:
        wait_until_answering(host.process, host.origin, host.output, host._reader)
    except BaseException:
        host.stop()
        raise
    return host


def wait_until_answering(
    process: subprocess.Popen[bytes],
    origin: str,
    output: Callable[[], str],
    reader: threading.Thread | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> None:
    """Wait until the host at origin answers /admin/host/status (a 401 counts: keys are enforced off loopback);
    HostStartError with its output (read to the end through reader) if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            if reader is not None:
                reader.join(timeout=5)
            raise HostStartError(f"devhost exited with code {code} while starting:\n{output()}")
        try:
            with urllib.request.urlopen(f"{origin}/admin/host/status", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise HostStartError(f"devhost did not answer within {timeout_s:.0f} s:\n{output()}")
        time.sleep(0.05)


def app_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the host gets: the test process's, plus extra settings (which win)."""
    env = dict(os.environ)
    env.update(extra or {})
    return env
