"""Which Python runs the app's workers (--python, VIRTUAL_ENV, APP_DIR/.venv, devhost's own) and what the
probe says about interpreters that cannot run them."""

from __future__ import annotations

import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from devhost.errors import AppPackagesMissingError, InterpreterError
from devhost.workers.interpreter import InterpreterChoice, choose_interpreter, probe_interpreter, venv_python


def _fake_venv(folder: Path) -> Path:
    """A folder laid out like a virtualenv whose python is this interpreter (the choice only looks at paths)."""
    python = venv_python(folder)
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    return python


def _bare_venv(folder: Path) -> Path:
    """A real virtualenv with nothing installed (no pip either: quick to make)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return venv_python(folder)


def test_the_choice_order_is_flag_then_virtualenv_then_app_venv_then_devhosts_own(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app_python = _fake_venv(app / ".venv")
    active = tmp_path / "active"
    active_python = _fake_venv(active)
    explicit = tmp_path / "explicit-python"
    environ = {"VIRTUAL_ENV": str(active)}

    assert choose_interpreter(app, explicit, environ) == InterpreterChoice(explicit, "--python")
    # --python python3: a command name is looked up on PATH; a relative path is taken from the current folder.
    assert choose_interpreter(app, Path("python"), {"PATH": str(active / "bin")}).path == active_python
    assert choose_interpreter(app, Path("x/python"), {}).path == Path.cwd() / "x" / "python"
    chosen = choose_interpreter(app, None, environ)
    assert chosen.path == active_python and "VIRTUAL_ENV" in chosen.reason
    assert choose_interpreter(app, None, {}) == InterpreterChoice(app_python, "the app's .venv")
    # A VIRTUAL_ENV without a python in it (a removed environment) is passed over.
    assert choose_interpreter(app, None, {"VIRTUAL_ENV": str(tmp_path / "gone")}).path == app_python
    own = choose_interpreter(tmp_path / "bare-app", None, {})
    assert own.path == Path(sys.executable) and "devhost's own" in own.reason


def test_the_probe_reads_the_version_and_the_sdks_of_the_interpreter() -> None:
    probed = probe_interpreter(InterpreterChoice(Path(sys.executable), "test"))
    assert probed.version == tuple(sys.version_info[:3])
    assert probed.packages == {
        "azure-functions": metadata.version("azure-functions"),
        "azure-functions-durable": metadata.version("azure-functions-durable"),
    }


def test_missing_sdks_name_the_packages_the_interpreter_and_the_pip_command(tmp_path: Path) -> None:
    python = _bare_venv(tmp_path / "env with space")
    with pytest.raises(AppPackagesMissingError) as raised:
        probe_interpreter(InterpreterChoice(python, "the app's .venv"))
    message = str(raised.value)
    assert "azure-functions and azure-functions-durable are not installed in the app's Python" in message
    assert f"{python} (from the app's .venv)" in message
    assert f"`{shlex.quote(str(python))} -m pip install azure-functions azure-functions-durable`" in message


def test_one_missing_sdk_is_named_alone(tmp_path: Path) -> None:
    python = _bare_venv(tmp_path / "env")
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # What pip leaves for an installed distribution, as far as importlib.metadata reads it.
    info = site / "azure_functions-1.18.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: azure-functions\nVersion: 1.18.0\n")
    with pytest.raises(AppPackagesMissingError) as raised:
        probe_interpreter(InterpreterChoice(python, "--python"))
    assert "azure-functions-durable is not installed in the app's Python" in str(raised.value)
    assert str(raised.value).count("-m pip install azure-functions-durable`") == 1


@pytest.mark.parametrize("kind", ["text file", "not executable", "shell script", "folder", "missing"])
def test_a_python_that_is_not_python_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "python"
    if kind == "text file":
        path.write_text("just some notes\n")
        path.chmod(0o755)
    elif kind == "not executable":
        path.write_text("print('hi')\n")
        path.chmod(0o644)
    elif kind == "shell script":
        path.write_text("#!/bin/sh\necho 'I am not Python'\n")
        path.chmod(0o755)
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(InterpreterError) as raised:
        probe_interpreter(InterpreterChoice(path, "--python"))
    message = str(raised.value)
    assert f"{path} (from --python)" in message
    expected = {
        "text file": "is not a Python interpreter: running it failed (Exec format error)",
        "not executable": "is not a Python interpreter: running it failed (Permission denied)",
        "shell script": "is not a Python interpreter devhost can use (it exited with code 0: I am not Python)",
        "folder": f"is a folder; pass the interpreter inside it, e.g. --python {venv_python(path)}",
        "missing": "does not exist; pass an interpreter with --python PATH",
    }[kind]
    assert expected in message, message
