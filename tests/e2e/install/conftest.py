"""Session-wide fixtures for the install tests: devhost built as a wheel and installed into a fresh
virtualenv (the tool), and app folders outside the repository, each with its own virtualenv pinned to one
azure-functions-durable version. Built once per session, in parallel, with pip's own cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.azurite import REPO_ROOT

TEMPLATE = Path(__file__).resolve().parent / "app_template"
#: azure-functions-durable versions with the azure-functions that was current when each came out
#: (1.2.9: Feb 2024, azure-functions 1.18.0 of Jan 2024; 1.5.0: Feb 2026, 1.24.0 of Oct 2025; 1.7.0: the
#: pins in requirements.txt). All three install and run on this suite's Python (3.11).
SDK_PAIRS = [("1.2.9", "1.18.0"), ("1.5.0", "1.24.0"), ("1.7.0", "1.26.0")]
#: The other Python versions Azure Functions runs apps on, with the newest SDKs that install there:
#: azure-functions 1.x requires Python < 3.13 and 2.x requires >= 3.13 (their Requires-Python).
OTHER_PYTHONS = [("3.10", "1.7.0", "1.26.0"), ("3.12", "1.7.0", "1.26.0"), ("3.13", "1.7.0", "2.3.0")]
#: The apps the tests are parametrised with (indirect `sdk_app`): SDK versions, then Python versions.
APP_KEYS = [durable for durable, _ in SDK_PAIRS] + [f"py{version}" for version, _, _ in OTHER_PYTHONS]
#: Not copied into the wheel's build folder: caches, environments, build output, local data.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".bench",
    "test-artifacts", "build", "dist", ".devhost", "__pycache__", "*.egg-info",
)  # fmt: skip
PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Tool:
    """devhost installed from its wheel into a virtualenv of its own."""

    wheel: Path
    venv: Path

    @property
    def devhost(self) -> Path:
        """The installed `devhost` command."""
        return self.venv / "bin" / "devhost"


@dataclass(frozen=True)
class SdkApp:
    """An app folder outside the repository whose .venv pins azure-functions-durable to durable."""

    folder: Path
    durable: str
    functions: str
    #: The .venv's Python version (X.Y.Z).
    python_version: str

    @property
    def python(self) -> Path:
        """The app's own interpreter."""
        return self.folder / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class MissingPython:
    """An app that could not be built: no interpreter of its Python version on this machine."""

    version: str


def pip_env() -> dict[str, str]:
    """The environment for pip: no virtualenv or PYTHONPATH of the test run leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=pip_env())
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def make_venv(folder: Path, *requirements: str, base: Path | None = None) -> Path:
    """A fresh virtualenv at folder (made by the base interpreter, this one by default) with the requirements
    installed; its python."""
    _run([str(base or sys.executable), "-m", "venv", str(folder)])
    python = folder / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", *requirements])
    return python


def find_python(version: str) -> Path | None:
    """An interpreter of that X.Y version: the newest pyenv install of it, else pythonX.Y on PATH; None if neither
    runs."""
    candidates: list[Path] = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installs = sorted((pyenv_root / "versions").glob(f"{version}.*"), key=_version_key, reverse=True)
    candidates += [install / "bin" / f"python{version}" for install in installs]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if _python_version(candidate).startswith(f"{version}."):
            return candidate
    return None


def _version_key(install: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in install.name.split("."))


def _python_version(python: Path) -> str:
    """X.Y.Z of an interpreter, or "" when it does not run (a pyenv shim of a version not selected fails so)."""
    try:
        done = subprocess.run(
            [str(python), "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=30, env=pip_env(),
        )  # fmt: skip
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def build_wheel(out: Path) -> Path:
    """devhost's wheel, built from a copy of the working tree (the build leaves nothing in the repository)."""
    source = out / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out / "dist"), str(source)])
    (wheel,) = (out / "dist").glob("devhost-*.whl")
    return wheel


def wheel_names(wheel: Path) -> list[str]:
    """The files in a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="session")
def install_builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[object]]]:
    """The tool and every SDK app, built side by side (two at a time: pip is mostly waiting on I/O)."""
    root = tmp_path_factory.mktemp("install")

    def tool() -> Tool:
        wheel = build_wheel(root / "wheel")
        venv = root / "tool"
        make_venv(venv, str(wheel))
        return Tool(wheel, venv)

    def app(key: str, durable: str, functions: str, python_version: str | None = None) -> SdkApp | MissingPython:
        base = Path(sys.executable)
        if python_version is not None:
            found = find_python(python_version)
            if found is None:
                return MissingPython(python_version)
            base = found
        folder = root / f"my-app-{key}"
        shutil.copytree(TEMPLATE, folder, ignore=shutil.ignore_patterns("__pycache__"))
        python = make_venv(
            folder / ".venv", f"azure-functions-durable=={durable}", f"azure-functions=={functions}", base=base
        )
        return SdkApp(folder, durable, functions, _python_version(python))

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="install-build") as pool:
        builds: dict[str, Future[object]] = {"tool": pool.submit(tool)}
        for durable, functions in SDK_PAIRS:
            builds[durable] = pool.submit(app, durable, durable, functions)
        for version, durable, functions in OTHER_PYTHONS:
            builds[f"py{version}"] = pool.submit(app, f"py{version}", durable, functions, version)
        yield builds
        for future in builds.values():
            future.cancel()


@pytest.fixture(scope="session")
def tool(install_builds: dict[str, Future[object]]) -> Tool:
    """devhost from its wheel in a fresh virtualenv."""
    built = install_builds["tool"].result()
    assert isinstance(built, Tool)
    return built


@pytest.fixture
def sdk_app(install_builds: dict[str, Future[object]], request: pytest.FixtureRequest) -> SdkApp:
    """The app folder the test is parametrised with (indirect: an APP_KEYS entry)."""
    built = install_builds[request.param].result()
    if isinstance(built, MissingPython):
        pytest.skip(
            f"Python {built.version} is not installed on this machine (looked for pyenv's {built.version}.* "
            f"installs and python{built.version} on PATH); install it to test apps on that version"
        )
    assert isinstance(built, SdkApp)
    return built
