"""--azurite auto: start the repository's Azurite when the app uses development storage and none is running."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from devhost.bindings.storage import DEV_PORTS, is_development_storage
from devhost.errors import ConfigError
from devhost.lifetime import parent_death_request

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
STARTUP_TIMEOUT_S = 30.0


def is_listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


class ManagedAzurite:
    """An Azurite process this host started (and stops)."""

    def __init__(self, process: subprocess.Popen[bytes], location: Path, ports: Mapping[str, int]) -> None:
        self.process = process
        self.location = location
        self.ports = dict(ports)

    def wait_until_listening(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Block until Azurite accepts connections on all its ports; ConfigError (and stopped) if it does not."""
        log_path = self.location / "azurite.log"
        deadline = time.monotonic() + timeout_s
        while not all(is_listening(port) for port in self.ports.values()):
            if self.process.poll() is not None:
                raise ConfigError(f"Azurite exited with code {self.process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                self.stop()
                listed = ", ".join(str(port) for port in self.ports.values())
                raise ConfigError(f"Azurite did not listen on ports {listed} within {timeout_s:.0f}s; see {log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate Azurite and wait for it (kill after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def needs_azurite(storage_setting: str | None) -> bool:
    """True when AzureWebJobsStorage is the development storage and nothing listens on 10000-10002."""
    if not storage_setting or not is_development_storage(storage_setting):
        return False
    return not all(is_listening(port) for port in DEV_PORTS.values())


def launch_azurite(location: Path, ports: Mapping[str, int], binary: Path = AZURITE_BIN) -> ManagedAzurite:
    """Start Azurite on loopback at the given blob/queue/table ports with data in location (not waiting for
    it: wait_until_listening). On Linux it gets SIGTERM when the calling thread ends, so call this from a
    thread that lives as long as Azurite should: a host that dies (kill -9, a crash) takes it along."""
    _check_binary(binary)
    location.mkdir(parents=True, exist_ok=True)
    with open(location / "azurite.log", "ab") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "--location", str(location),
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                "--blobHost", "127.0.0.1", "--blobPort", str(ports["blob"]),
                "--queueHost", "127.0.0.1", "--queuePort", str(ports["queue"]),
                "--tableHost", "127.0.0.1", "--tablePort", str(ports["table"]),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C on the host reaches us first and we stop it in order.
            start_new_session=True,
            # Azurite is a node process in its own session: nothing else would stop it if the host were killed,
            # and it would keep the storage ports and the data folder.
            preexec_fn=parent_death_request(signal.SIGTERM, os.getpid()),
            env=dict(os.environ),
        )  # fmt: skip
    return ManagedAzurite(process, location, ports)


def _check_binary(binary: Path) -> None:
    if not binary.exists():
        raise ConfigError(
            f"{binary} is missing, so Azurite cannot be started: run `make setup` (npm ci) first, "
            "or start Azurite yourself, or pass --azurite off with AzureWebJobsStorage pointing at storage"
        )


def start_azurite(data_dir: Path, binary: Path = AZURITE_BIN) -> ManagedAzurite:
    """Start Azurite on its default loopback ports (10000-10002) with data in data_dir/azurite (launch_azurite
    says which thread should call it; then wait_until_listening)."""
    _check_binary(binary)  # first: a missing Azurite is the error to report even when the ports are taken
    busy = [port for port in DEV_PORTS.values() if is_listening(port)]
    if busy:
        raise ConfigError(
            f"port(s) {', '.join(map(str, busy))} are taken by something that is not a complete Azurite; "
            "free them or point AzureWebJobsStorage elsewhere"
        )
    managed = launch_azurite(data_dir / "azurite", DEV_PORTS, binary)
    log.info("Started Azurite (pid %d, data in %s)", managed.process.pid, managed.location)
    return managed
