"""Start the real Azurite emulator (from this repository's node_modules) on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    """A running Azurite: its ports, data folder and connection string."""

    blob_port: int
    queue_port: int
    table_port: int
    location: Path
    process: subprocess.Popen[bytes]

    @property
    def connection_string(self) -> str:
        """Connection string for the azure-storage SDKs and AzureWebJobsStorage."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        """Stop the emulator (data stays in location, so start_azurite(location=...) resumes it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port} in time")


def start_azurite(
    location: Path | None = None,
    blob_port: int | None = None,
    queue_port: int | None = None,
    table_port: int | None = None,
) -> Azurite:
    """Start Azurite on free (or given) loopback ports; raises if node_modules lacks it."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `make setup` (npm ci) first")
    location = location or Path(tempfile.mkdtemp(prefix="azurite-"))
    ports = (blob_port or free_port(), queue_port or free_port(), table_port or free_port())
    log = open(location / "azurite.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [
            str(AZURITE_BIN),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--location",
            str(location),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(ports[0]),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(ports[1]),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(ports[2]),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 30
    try:
        for port in ports:
            _wait_listening(port, deadline)
    except RuntimeError:
        process.kill()
        raise
    return Azurite(ports[0], ports[1], ports[2], location, process)


@contextmanager
def running_azurite() -> Iterator[Azurite]:
    """Azurite for the duration of a with-block, its data folder removed afterwards."""
    azurite = start_azurite()
    try:
        yield azurite
    finally:
        azurite.stop()
        shutil.rmtree(azurite.location, ignore_errors=True)


def environment_with(azurite: Azurite) -> dict[str, str]:
    """os.environ plus AzureWebJobsStorage pointing at this Azurite."""
    env = dict(os.environ)
    env["AzureWebJobsStorage"] = azurite.connection_string
    return env
