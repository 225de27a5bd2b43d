"""--azurite auto: start the repository's Azurite when the app uses development storage and none is running."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from devhost.bindings.storage import DEV_PORTS, is_development_storage
from devhost.errors import ConfigError

log = logging.getLogger("devhost.azurite")

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

    def __init__(self, process: subprocess.Popen[bytes], location: Path) -> None:
        self.process = process
        self.location = location

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
    """Start Azurite on loopback at the given blob/queue/table ports, data in location; wait until it listens."""
    if not binary.exists():
        raise ConfigError(
            f"{binary} is missing, so Azurite cannot be started: run `make setup` (npm ci) first, "
            "or start Azurite yourself, or pass --azurite off with AzureWebJobsStorage pointing at storage"
        )
    location.mkdir(parents=True, exist_ok=True)
    log_path = location / "azurite.log"
    with open(log_path, "ab") as output:
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
            env=dict(os.environ),
        )  # fmt: skip
    managed = ManagedAzurite(process, location)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not all(is_listening(port) for port in ports.values()):
        if process.poll() is not None:
            raise ConfigError(f"Azurite exited with code {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            managed.stop()
            listed = ", ".join(str(port) for port in ports.values())
            raise ConfigError(
                f"Azurite did not listen on ports {listed} within {STARTUP_TIMEOUT_S:.0f}s; see {log_path}"
            )
        time.sleep(0.1)
    return managed


def start_azurite(data_dir: Path, binary: Path = AZURITE_BIN) -> ManagedAzurite:
    """Start Azurite on its default loopback ports (10000-10002) with data in data_dir/azurite."""
    busy = [port for port in DEV_PORTS.values() if is_listening(port)]
    if busy:
        raise ConfigError(
            f"port(s) {', '.join(map(str, busy))} are taken by something that is not a complete Azurite; "
            "free them or point AzureWebJobsStorage elsewhere"
        )
    managed = launch_azurite(data_dir / "azurite", DEV_PORTS, binary)
    log.info("Started Azurite (pid %d, data in %s)", managed.process.pid, managed.location)
    return managed
