"""Run `devhost start` as a subprocess against a test Azurite, for end-to-end tests."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devhost.testing.host_process import HostStartError, start_arguments, wait_until_answering
from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.ports import free_ports
from tests.support.waiting import wait_until

#: How the helper runs devhost: the `devhost` command installed next to this interpreter (what `make run` runs),
#: or `python -m devhost` where the project is not installed with its scripts.
_SCRIPT = Path(sys.executable).with_name("devhost")
DEVHOST_PROGRAM: list[str] = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "devhost"]


@dataclass
class DevHost:
    """A running devhost process and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    dashboard_port: int
    data_dir: Path
    host: str = "127.0.0.1"
    #: The Durable Task Scheduler endpoint's port; None when it is off (the default here: tests never take 8080).
    scheduler_port: int | None = None
    _chunks: list[bytes] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port> (loopback even when the host binds 0.0.0.0)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """http://127.0.0.1:<dashboard port>."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def output(self) -> str:
        """Everything the host printed so far (stdout and stderr interleaved)."""
        return b"".join(list(self._chunks)).decode("utf-8", errors="replace")

    def wait_for_output(self, *fragments: str, timeout: float = 15.0) -> str:
        """Wait until every fragment has been printed (log lines trail the HTTP answer); returns the output."""

        def printed() -> str:
            text = self.output()
            return text if all(fragment in text for fragment in fragments) else ""

        return wait_until(printed, timeout, f"the host to print {fragments!r}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (crash tests)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._join_reader()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            self._join_reader()
        return code

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _read(self) -> None:
        # Whatever is there, not a line at a time: under load the host prints thousands of lines a second,
        # and this process (the bench's sender too) should spend as little of the machine on them as it can.
        assert self.process.stdout is not None
        stream = self.process.stdout
        assert isinstance(stream, io.BufferedReader)
        with stream:  # closed here at EOF, by the thread that reads it (no unclosed-pipe ResourceWarning)
            for chunk in iter(lambda: stream.read1(1 << 16), b""):
                self._chunks.append(chunk)


def start_devhost(
    app_dir: Path,
    azurite: Azurite | None,
    *,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    wait: bool = True,
    azurite_mode: str = "off",
    scheduler_port: int | None = None,
) -> DevHost:
    """Start the host; with wait, return once /admin/host/status answers (raise with its output if it died).

    With azurite=None, AzureWebJobsStorage comes from the app's local.settings.json (or the environment).
    """
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="devhost-data-"))
    env = dict(os.environ)
    if azurite is not None:
        env["AzureWebJobsStorage"] = azurite.connection_string
    else:
        env.pop("AzureWebJobsStorage", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra_env or {})
    port, dashboard_port = free_ports(2, avoid=(scheduler_port,) if scheduler_port else ())
    process = subprocess.Popen(
        [
            *DEVHOST_PROGRAM,
            *start_arguments(
                app_dir, port, dashboard_port, data_dir, bind=host, azurite=azurite_mode, scheduler_port=scheduler_port
            ),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    devhost = DevHost(process, port, dashboard_port, data_dir, host, scheduler_port)
    devhost._reader = threading.Thread(target=devhost._read, name="devhost-output", daemon=True)
    devhost._reader.start()
    if wait:
        _wait_ready(devhost)
    return devhost


def _wait_ready(devhost: DevHost) -> None:
    try:
        wait_until_answering(devhost.process, devhost.base_url, devhost.output, devhost._reader)
    except HostStartError as exc:
        devhost.kill()
        raise AssertionError(str(exc)) from None


@contextmanager
def running_devhost(
    app_dir: Path,
    azurite: Azurite | None,
    *,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    scheduler_port: int | None = None,
) -> Iterator[DevHost]:
    """A started devhost for the with-block; terminated (SIGTERM, then SIGKILL) afterwards."""
    devhost = start_devhost(
        app_dir, azurite, data_dir=data_dir, extra_env=extra_env, host=host, scheduler_port=scheduler_port
    )
    try:
        yield devhost
    finally:
        devhost.terminate()
