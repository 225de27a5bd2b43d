"""Which Python runs the app's workers, and whether that Python can run them.

Core Tools starts the Python worker with the app's interpreter: the active virtualenv's python, or the one
configured (languageWorkers:python:defaultExecutablePath). devhost chooses, in this order: --python PATH,
$VIRTUAL_ENV's python, APP_DIR/.venv's python, devhost's own interpreter; then asks the chosen one (a short
subprocess, before anything else starts) for its version and its azure-functions and azure-functions-durable.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.errors import AppPackagesMissingError, InterpreterError

#: The distributions the worker needs next to the app (it imports them to run it).
REQUIRED_PACKAGES = ("azure-functions", "azure-functions-durable")
#: The oldest Python the worker's code runs on (it uses `X | Y` in isinstance, new in 3.10); also the oldest
#: Core Tools supports (azure-functions-core-tools, src/Cli/func/Helpers/PythonHelpers.cs: 3.10-3.14).
MIN_VERSION = (3, 10)
PROBE_TIMEOUT_S = 60.0
#: Run by the candidate interpreter: kept to what every Python 3 understands, so that an old one can still
#: say its version.
_PROBE = """
import json, sys
try:
    from importlib import metadata
except ImportError:
    metadata = None
def version(name):
    try:
        return metadata.version(name)
    except Exception:
        return None
print(json.dumps({"version": list(sys.version_info[:3]), "executable": sys.executable,
                  "packages": dict((name, version(name)) for name in sys.argv[1:])}))
"""


@dataclass(frozen=True)
class InterpreterChoice:
    """The Python chosen for the workers and why it was chosen."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Interpreter:
    """A probed interpreter: its version and the versions of the packages the worker needs."""

    path: Path
    reason: str
    version: tuple[int, ...]
    packages: dict[str, str | None] = field(default_factory=dict)

    @property
    def version_text(self) -> str:
        """'3.11.7'."""
        return ".".join(str(part) for part in self.version)


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtualenv folder."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def choose_interpreter(app_dir: Path, explicit: Path | None, environ: Mapping[str, str]) -> InterpreterChoice:
    """--python, else $VIRTUAL_ENV's python, else APP_DIR/.venv's, else devhost's own (the first that exists)."""
    if explicit is not None:
        return InterpreterChoice(_locate(explicit, environ), "--python")
    active = environ.get("VIRTUAL_ENV")
    if active and venv_python(Path(active)).exists():
        return InterpreterChoice(venv_python(Path(active)), f"the active virtualenv (VIRTUAL_ENV={active})")
    local = venv_python(app_dir / ".venv")
    if local.exists():
        return InterpreterChoice(local, "the app's .venv")
    return InterpreterChoice(Path(sys.executable), "devhost's own interpreter (no --python, VIRTUAL_ENV or .venv)")


def _locate(explicit: Path, environ: Mapping[str, str]) -> Path:
    """--python as an absolute path: a bare name that is no file here is looked up on PATH (`--python python3`).
    Symlinks stay as they are: a virtualenv's python is a link, and only its own path makes it that venv's."""
    if len(explicit.parts) == 1 and not explicit.exists():
        found = shutil.which(str(explicit), path=environ.get("PATH"))
        if found is not None:
            return Path(found)
    return Path(os.path.abspath(explicit))


def probe_interpreter(choice: InterpreterChoice) -> Interpreter:
    """Ask the chosen Python for its version and packages; InterpreterError when it is not a usable Python,
    AppPackagesMissingError (with the pip command that fixes it) when it lacks the Functions SDKs."""
    path = choice.path
    shown = f"{path} (from {choice.reason})"
    if not path.exists():
        raise InterpreterError(f"the Python {shown} does not exist; pass an interpreter with --python PATH")
    if path.is_dir():
        raise InterpreterError(
            f"the Python {shown} is a folder; pass the interpreter inside it, e.g. --python {venv_python(path)}"
        )
    try:
        result = subprocess.run(
            [str(path), "-c", _PROBE, *REQUIRED_PACKAGES],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise InterpreterError(f"{shown} is not a Python interpreter: running it failed ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise InterpreterError(
            f"{shown} did not answer within {PROBE_TIMEOUT_S:.0f} s; is it a Python interpreter?"
        ) from None
    answer = _parse_probe(result.stdout)
    if result.returncode != 0 or answer is None:
        said = (result.stderr or result.stdout).strip().splitlines()
        detail = f": {said[-1]}" if said else ""
        raise InterpreterError(
            f"{shown} is not a Python interpreter devhost can use (it exited with code {result.returncode}{detail})"
        )
    interpreter = Interpreter(path, choice.reason, tuple(answer["version"]), dict(answer["packages"]))
    if interpreter.version[:2] < MIN_VERSION:
        minimum = ".".join(map(str, MIN_VERSION))
        raise InterpreterError(
            f"{shown} is Python {interpreter.version_text}; the devhost worker needs Python {minimum} or later"
        )
    missing = [name for name in REQUIRED_PACKAGES if not interpreter.packages.get(name)]
    if missing:
        command = f"{shlex.quote(str(path))} -m pip install {' '.join(missing)}"
        raise AppPackagesMissingError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in the app's Python, "
            f"{shown}; install {'it' if len(missing) == 1 else 'them'} there: `{command}` "
            "(or list them in the app's requirements.txt and install that), or choose another Python with --python"
        )
    return interpreter


def _parse_probe(output: str) -> dict[str, Any] | None:
    lines = output.strip().splitlines()
    if not lines:
        return None
    try:
        answer = json.loads(lines[-1])
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("version"), list):
        return None
    if not isinstance(answer.get("packages"), dict):
        return None
    return answer
