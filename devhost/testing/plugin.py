"""devhost's pytest plugin (entry point ``pytest11``: devhost): the ``durable_host`` fixture.

Options: ``devhost_app_dir`` (ini) / ``--devhost-app-dir`` (the app folder; default the rootdir) and
``devhost_scope`` (ini: session, package, module, class or function; default session). Nothing happens
unless a test asks for ``durable_host``: the plugin only adds options and fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from devhost.config import load_config
from devhost.errors import ConfigError, DevHostError
from devhost.testing.host_process import HostStartError, app_environment, start_host

if TYPE_CHECKING:
    from devhost.azurite import ManagedAzurite
    from devhost.testing.durable_host import DurableHost

ScopeName = Literal["session", "package", "module", "class", "function"]
SCOPES: tuple[ScopeName, ...] = ("session", "package", "module", "class", "function")
APP_FILE = "function_app.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --devhost-app-dir and the devhost_app_dir / devhost_scope ini options."""
    group = parser.getgroup("devhost", "devhost: a local Azure Functions host for durable_host tests")
    group.addoption(
        "--devhost-app-dir",
        dest="devhost_app_dir",
        default=None,
        metavar="DIR",
        help="the function app folder durable_host runs (default: devhost_app_dir ini, else the rootdir)",
    )
    parser.addini("devhost_app_dir", "the function app folder durable_host runs (default: the rootdir)", default="")
    parser.addini(
        "devhost_scope", "how long one durable_host lives: session (default), package, module, class or function"
    )


def _scope(fixture_name: str, config: pytest.Config) -> ScopeName:
    """The host fixture's scope, from the devhost_scope ini option."""
    value = str(config.getini("devhost_scope") or "session").strip().lower()
    for scope in SCOPES:
        if value == scope:
            return scope
    raise pytest.UsageError(f"devhost_scope = {value!r} is not a pytest scope; use one of {', '.join(SCOPES)}")


def app_dir(config: pytest.Config) -> Path:
    """The app folder: --devhost-app-dir, else the devhost_app_dir ini option (relative to the rootdir), else
    the rootdir. A pytest usage error when it holds no function_app.py."""
    given = config.getoption("devhost_app_dir") or config.getini("devhost_app_dir")
    folder = Path(config.rootpath) if not given else Path(str(given)).expanduser()
    if not folder.is_absolute():
        base = Path.cwd() if config.getoption("devhost_app_dir") else Path(config.rootpath)
        folder = base / folder
    folder = folder.resolve()
    if not (folder / APP_FILE).is_file():
        raise pytest.UsageError(
            f"devhost: {folder} has no {APP_FILE}; point --devhost-app-dir (or the devhost_app_dir ini option) "
            "at your function app's folder"
        )
    return folder


@pytest.fixture(scope="session")
def devhost_app_settings() -> dict[str, str]:
    """App settings the host gets on top of the environment and local.settings.json (override this fixture,
    session-scoped, in a conftest.py: e.g. AzureWebJobsStorage pointing at an Azurite of your own)."""
    return {}


@pytest.fixture(scope="session")
def _devhost_storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, devhost_app_settings: dict[str, str]
) -> Iterator[None]:
    """Azurite for the session when the app uses development storage and none listens on its ports."""
    # Imported here, like the other heavy modules: pytest loads this plugin in every run.
    from devhost.azurite import needs_azurite, start_azurite

    folder = app_dir(request.config)
    try:
        config = load_config(folder, app_environment(devhost_app_settings))
    except ConfigError as exc:
        raise pytest.UsageError(f"devhost: {exc}") from exc
    storage = {**config.local.values, **app_environment(devhost_app_settings)}.get("AzureWebJobsStorage")
    managed: ManagedAzurite | None = None
    if needs_azurite(storage):
        try:
            managed = start_azurite(tmp_path_factory.mktemp("devhost-azurite"), app_dir=folder)
            managed.wait_until_listening()
        except DevHostError as exc:  # no Azurite installed, ports taken, or it did not come up
            pytest.fail(f"devhost could not start Azurite for the app's development storage: {exc}", pytrace=False)
    yield
    if managed is not None:
        managed.stop()


@pytest.fixture(scope=_scope)
def _devhost_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    devhost_app_settings: dict[str, str],
    _devhost_storage: None,
) -> Iterator[DurableHost]:
    """One devhost process for the app (its scope is devhost_scope), stopped when the scope ends."""
    from devhost.testing.durable_host import DurableHost

    folder = app_dir(request.config)
    environment = app_environment(devhost_app_settings)
    config = load_config(folder, environment)  # exports the app's settings into `environment` only
    try:
        process = start_host(folder, tmp_path_factory.mktemp("devhost-data"), app_environment(devhost_app_settings))
    except HostStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    host = DurableHost(process, config, environment)
    yield host
    process.stop()


@pytest.fixture
def durable_host(_devhost_server: DurableHost) -> DurableHost:
    """A running devhost for the app under test, with no instances and a fresh log window (docs/testing.md)."""
    _devhost_server.begin_test()
    return _devhost_server
