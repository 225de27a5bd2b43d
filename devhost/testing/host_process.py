"""A devhost process for tests: `python -m devhost start` on free ports with a fresh data folder, virtual time on.

The process is the one developers run (workers, engine, triggers, management API), so a test sees what the
app does under devhost, not a simulation of it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
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


def start_host(app_dir: Path, data_dir: Path, env: Mapping[str, str]) -> HostProcess:
    """Start devhost for app_dir and wait until it answers; HostStartError with its output when it cannot."""
    port, dashboard_port = free_ports(2)
    command = [
        sys.executable, "-m", "devhost", "start",
        "--app-dir", str(app_dir),
        "--port", str(port),
        "--dashboard-port", str(dashboard_port),
        "--data-dir", str(data_dir),
        # The plugin starts (or reuses) Azurite itself, once per session, not once per host.
        "--azurite", "off",
    ]  # fmt: skip
    from devhost.host import HostOptions  # here: the host's modules are heavy, and pytest loads this plugin always

    if any(option.name == "scheduler_port" for option in dataclasses.fields(HostOptions)):
        # The gRPC scheduler endpoint's fixed port would clash with a developer's running host.
        command += ["--scheduler-port", "off"]
    process_env = {**env, VIRTUAL_TIME_SETTING: "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=app_dir, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    host = HostProcess(process, port, dashboard_port, data_dir)
    host._reader = threading.Thread(target=host._read, name="devhost-output", daemon=True)
    host._reader.start()
    try:
        _wait_ready(host)
    except BaseException:
        host.stop()
        raise
    return host


def _wait_ready(host: HostProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        code = host.process.poll()
        if code is not None:
            if host._reader is not None:
                host._reader.join(timeout=5)
            raise HostStartError(f"devhost exited with code {code} while starting:\n{host.output()}")
        try:
            with urllib.request.urlopen(f"{host.origin}/admin/host/status", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise HostStartError(f"devhost did not answer within {STARTUP_TIMEOUT_S:.0f} s:\n{host.output()}")
        time.sleep(0.05)


def app_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the host gets: the test process's, plus extra settings (which win)."""
    env = dict(os.environ)
    env.update(extra or {})
    return env
