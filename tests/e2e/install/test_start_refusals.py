"""`devhost start` refuses, before starting anything, a Python that cannot run the app: not Python at all, or
without the Functions SDKs (the message names the packages, the interpreter and the pip command)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.testing.host_process import start_arguments
from tests.support.devhost import DEVHOST_PROGRAM
from tests.support.ports import free_ports

TEMPLATE = Path(__file__).resolve().parent / "app_template"


def _app(folder: Path) -> Path:
    folder.mkdir()
    for name in ("function_app.py", "host.json", "local.settings.json"):
        (folder / name).write_text((TEMPLATE / name).read_text())
    return folder


def _bare_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder / "bin" / "python"


def _command(app: Path) -> list[str]:
    """The suite's launcher's command line (free ports, no Azurite, no scheduler endpoint) for app."""
    port, dashboard_port = free_ports(2)
    return [*DEVHOST_PROGRAM, *start_arguments(app, port, dashboard_port, app / ".devhost")]


def _start(app: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run(
        [*_command(app), *args],
        cwd=app,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _nothing_started(app: Path, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert "Worker process" not in result.stderr and "Host started" not in result.stderr
    data_dir = app / ".devhost"
    assert not data_dir.exists() or not any(data_dir.iterdir()), "nothing is written before the probe passes"


@pytest.mark.parametrize("kind", ["text file", "shell script"])
def test_python_pointing_at_a_non_python_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    app = _app(tmp_path / "my-app")
    fake = tmp_path / "notes.txt"
    fake.write_text("#!/bin/sh\necho hello\n" if kind == "shell script" else "some notes\n")
    fake.chmod(0o755)
    result = _start(app, "--python", str(fake))
    _nothing_started(app, result)
    expected = (
        "is not a Python interpreter devhost can use (it exited with code 0: hello)"
        if kind == "shell script"
        else "is not a Python interpreter: running it failed (Exec format error)"
    )
    assert f"error: {fake} (from --python) {expected}" in result.stderr, result.stderr


def test_an_app_venv_without_the_sdks_stops_with_the_pip_command(tmp_path: Path) -> None:
    app = _app(tmp_path / "my app")
    python = _bare_venv(app / ".venv")
    result = _start(app)
    _nothing_started(app, result)
    assert (
        f"error: azure-functions and azure-functions-durable are not installed in the app's Python, {python} "
        f"(from the app's .venv); install them there: `{shlex.quote(str(python))} -m pip install azure-functions "
        "azure-functions-durable`"
    ) in result.stderr, result.stderr


def test_the_active_virtualenv_comes_before_the_apps_venv(tmp_path: Path) -> None:
    app = _app(tmp_path / "my-app")
    _bare_venv(app / ".venv")
    active = tmp_path / "active"
    python = _bare_venv(active)
    result = _start(app, env={"VIRTUAL_ENV": str(active)})
    _nothing_started(app, result)
    assert f"in the app's Python, {python} (from the active virtualenv (VIRTUAL_ENV={active}))" in result.stderr


def test_an_app_without_a_venv_runs_in_devhosts_own_python(tmp_path: Path) -> None:
    """Without --python, VIRTUAL_ENV or .venv the worker runs in devhost's interpreter (it has the SDKs here),
    and the log says so."""
    app = _app(tmp_path / "my-app")
    process = subprocess.Popen(
        _command(app),
        cwd=app,
        env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Host started" in line or "error:" in line:
                break
    finally:
        process.terminate()
        process.communicate(timeout=30)
    text = "".join(lines)
    assert f"at {sys.executable} (devhost's own interpreter (no --python, VIRTUAL_ENV or .venv))" in text, text
    assert "Host started" in text
