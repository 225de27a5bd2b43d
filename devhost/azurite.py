"""--azurite auto: start an Azurite when the app uses development storage and none is running.

Which Azurite: this repository's node_modules (a checkout of devhost), then the app folder's node_modules
(an app that pins Azurite in its own package.json), then devhost's per-user cache (where `devhost azurite
install` puts the pinned version with npm), then `azurite` on PATH.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devhost.bindings.storage import DEV_PORTS, is_development_storage
from devhost.errors import AzuriteNotFoundError, ConfigError
from devhost.lifetime import parent_death_request

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The Azurite of a devhost checkout (`npm ci` from package.json); absent when devhost is installed.
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
#: The version `devhost azurite install` puts in the cache: package.json's pin (a unit test keeps them equal).
AZURITE_VERSION = "3.35.0"
#: The Node.js the README asks for (Azurite itself says >=10; older ones are out of support).
MIN_NODE_MAJOR = 20
STARTUP_TIMEOUT_S = 30.0
NPM_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class AzuriteInstall:
    """An Azurite executable and where it was found."""

    binary: Path
    source: str


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """devhost's per-user Azurite folder: $XDG_CACHE_HOME/devhost/azurite, else ~/.cache/devhost/azurite."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base).expanduser() / "devhost" / "azurite"


def cached_binary(environ: Mapping[str, str] | None = None) -> Path:
    """Where `devhost azurite install` leaves the azurite command."""
    return cache_dir(environ) / "node_modules" / ".bin" / "azurite"


def find_azurite(
    environ: Mapping[str, str] | None = None, repo_binary: Path = AZURITE_BIN, app_dir: Path | None = None
) -> AzuriteInstall:
    """The first Azurite of: this repository's node_modules, the app's node_modules, the per-user cache, PATH;
    AzuriteNotFoundError (saying how to get one) when there is none or Node.js cannot run it."""
    environ = os.environ if environ is None else environ
    on_path = shutil.which("azurite", path=environ.get("PATH"))
    app_binary = app_dir / "node_modules" / ".bin" / "azurite" if app_dir else None
    in_app = [AzuriteInstall(app_binary, "the app's node_modules")] if app_binary else []
    candidates = [
        AzuriteInstall(repo_binary, "this repository's node_modules"),
        *in_app,
        AzuriteInstall(cached_binary(environ), "devhost's cache"),
        *([AzuriteInstall(Path(on_path), "PATH")] if on_path else []),
    ]
    found = next((candidate for candidate in candidates if candidate.binary.exists()), None)
    if found is None:
        looked = ", ".join(str(candidate.binary) for candidate in candidates if candidate.source != "PATH")
        raise AzuriteNotFoundError(
            "the app uses development storage (UseDevelopmentStorage=true), nothing listens on ports "
            f"{', '.join(map(str, DEV_PORTS.values()))}, and no Azurite was found (looked in {looked} and on "
            f"PATH): run `devhost azurite install` (Azurite {AZURITE_VERSION} into {cache_dir(environ)}, "
            "with npm), or start Azurite yourself, or pass --azurite off with AzureWebJobsStorage pointing at "
            "a storage account"
        )
    check_node(environ)
    return found


def check_node(environ: Mapping[str, str] | None = None) -> str:
    """The `node` version on PATH ('v20.11.1'); AzuriteNotFoundError when it is missing or older than 20."""
    environ = os.environ if environ is None else environ
    node = shutil.which("node", path=environ.get("PATH"))
    needed = f"Azurite needs Node.js {MIN_NODE_MAJOR} or later"
    if node is None:
        raise AzuriteNotFoundError(
            f"{needed}, and `node` is not on PATH: install Node.js {MIN_NODE_MAJOR}+ (https://nodejs.org), "
            "or pass --azurite off with AzureWebJobsStorage pointing at a storage account"
        )
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise AzuriteNotFoundError(f"{needed}; running {node} --version failed ({exc})") from None
    match = re.match(r"v?(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        raise AzuriteNotFoundError(f"{needed}; {node} is {version or 'of an unknown version'}")
    return version


def install_azurite(environ: Mapping[str, str] | None = None) -> Path:
    """`devhost azurite install`: the pinned Azurite into the per-user cache with npm; the azurite command."""
    environ = os.environ if environ is None else environ
    check_node(environ)
    npm = shutil.which("npm", path=environ.get("PATH"))
    if npm is None:
        raise AzuriteNotFoundError(
            "`devhost azurite install` needs npm (it comes with Node.js), and `npm` is not on PATH"
        )
    folder = cache_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error",
        "--save-exact", f"azurite@{AZURITE_VERSION}",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, env=dict(environ))
    except subprocess.TimeoutExpired:
        raise AzuriteNotFoundError(f"npm did not install Azurite within {NPM_TIMEOUT_S:.0f} s") from None
    binary = cached_binary(environ)
    if result.returncode != 0 or not binary.exists():
        said = (result.stderr or result.stdout).strip()
        raise AzuriteNotFoundError(f"npm could not install Azurite {AZURITE_VERSION} into {folder}:\n{said}")
    return binary


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
        raise AzuriteNotFoundError(
            f"{binary} is missing, so Azurite cannot be started: run `devhost azurite install` (or `make setup` "
            "in a devhost checkout), or start Azurite yourself, or pass --azurite off with AzureWebJobsStorage "
            "pointing at a storage account"
        )


def start_azurite(data_dir: Path, binary: Path | None = None, app_dir: Path | None = None) -> ManagedAzurite:
    """Start Azurite (find_azurite's for the app in app_dir, unless binary is given) on its default loopback ports
    (10000-10002) with data in data_dir/azurite (launch_azurite says which thread should call it; then
    wait_until_listening)."""
    if binary is None:
        found = find_azurite(app_dir=app_dir)
        binary = found.binary
        log.info("Using Azurite from %s (%s)", found.source, binary)
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
