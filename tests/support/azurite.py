"""Start the real Azurite emulator (from this repository's node_modules) on free loopback ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devhost.azurite import AZURITE_BIN, ManagedAzurite, launch_azurite
from devhost.bindings.storage import DEV_ACCOUNT, DEV_ACCOUNT_KEY
from tests.support.ports import free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]
# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = DEV_ACCOUNT
ACCOUNT_KEY = DEV_ACCOUNT_KEY


@dataclass(frozen=True)
class Azurite:
    """A running Azurite: its ports, data folder and connection string."""

    blob_port: int
    queue_port: int
    table_port: int
    managed: ManagedAzurite

    @property
    def location(self) -> Path:
        """The data folder (start_azurite(location=...) on the same ports resumes it)."""
        return self.managed.location

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The node process."""
        return self.managed.process

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
        """Stop the emulator; its data stays in location."""
        self.managed.stop()


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
    given = tuple(port for port in (blob_port, queue_port, table_port) if port)
    spare = iter(free_ports(3, avoid=given))
    ports = {
        "blob": blob_port or next(spare),
        "queue": queue_port or next(spare),
        "table": table_port or next(spare),
    }
    managed = launch_azurite(location, ports)
    managed.wait_until_listening()
    return Azurite(ports["blob"], ports["queue"], ports["table"], managed)


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
