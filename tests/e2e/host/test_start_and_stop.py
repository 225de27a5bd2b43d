"""Starting and stopping the host process: usage errors, unsupported apps, clean SIGTERM shutdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import running_devhost

APPS = Path(__file__).resolve().parents[2] / "apps"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["start", "--port", "seventy"], "'seventy' is not a port number"),
        (["start", "--port", "70000"], "70000 is not a port number"),
        (["start", "--azurite", "maybe"], "invalid choice: 'maybe'"),
        (["start", "--app-dir", "/no/such/dir"], "'/no/such/dir' is not a directory"),
        (["start", "--log-level", "loud"], "invalid choice: 'loud'"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], fragment: str):
    result = _run(*args)
    assert result.returncode == 2
    assert "usage: devhost" in result.stderr
    assert fragment in result.stderr


def test_unsupported_binding_fails_start_naming_function_and_binding(tmp_path: Path):
    result = _run("start", "--app-dir", str(APPS / "unsupported_app"), "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "error: function 'on_telemetry': trigger 'event' of type 'eventHubTrigger' is not supported" in result.stderr


def test_bad_host_json_fails_start_with_path(tmp_path: Path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": {"maxDequeueCount": 0}}}))
    (app / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    result = _run("start", "--app-dir", str(app), "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert f"{app / 'host.json'}: extensions.queues.maxDequeueCount: must be at least 1, got 0" in result.stderr


def test_import_error_in_app_is_reported_with_traceback(tmp_path: Path):
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text("import azure.functions as func\nraise RuntimeError('broken app')\n")
    result = _run("start", "--app-dir", str(tmp_path), "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "importing the app failed" in result.stderr and "RuntimeError: broken app" in result.stderr


@pytest.mark.azurite
def test_sigterm_shuts_down_cleanly(azurite: Azurite, tmp_path: Path):
    with running_devhost(APPS / "http_app", azurite, data_dir=tmp_path) as host:
        code = host.terminate()
        assert code == 0
        output = host.output()
        assert "Host shutting down" in output and "Host stopped" in output
        assert "Traceback" not in output
