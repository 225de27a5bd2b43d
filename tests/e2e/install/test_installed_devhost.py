"""devhost as an installed tool: its wheel carries devhost alone, and `devhost start` in an app folder outside
this repository runs the app in the app's own virtualenv, on each azure-functions-durable version and each
Python version covered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import AZURITE_VERSION, AzuriteInstall, find_azurite, is_listening, launch_azurite
from devhost.bindings.storage import DEV_PORTS
from devhost.testing.host_process import start_arguments
from tests.e2e.install.conftest import APP_KEYS, TEMPLATE, SdkApp, Tool, wheel_names
from tests.support.devhost import DevHost
from tests.support.ports import free_ports
from tests.support.waiting import wait_until

# One xdist worker builds the wheel and the virtualenvs once (`make test-fast` runs with --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200), pytest.mark.xdist_group("install")]

CITIES = ["Tokyo", "Seattle", "London"]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str, body: object) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def start_installed(tool: Tool, app: Path, data_dir: Path, cache: Path, *extra: str) -> DevHost:
    """`devhost start` run from the app folder as a user runs it: no virtualenv active, no PYTHONPATH."""
    port, dashboard_port = free_ports(2)
    # The same flags the suite's launcher passes (free ports, no Azurite), after the installed command.
    arguments = start_arguments(Path("."), port, dashboard_port, data_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "AzureWebJobsStorage")}
    env.update(PYTHONUNBUFFERED="1", XDG_CACHE_HOME=str(cache))
    process = subprocess.Popen(
        [str(tool.devhost), *arguments, *extra],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    host = DevHost(process, port, dashboard_port, data_dir)
    host._reader = threading.Thread(target=host._read, name="devhost-output", daemon=True)
    host._reader.start()
    return host


def _answers(host: DevHost) -> bool:
    if host.process.poll() is not None:
        raise AssertionError(f"devhost exited with {host.process.returncode}:\n{host.output()}")
    try:
        with urllib.request.urlopen(f"{host.base_url}/admin/host/status", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _run_orchestration(host: DevHost, name: str, body: object) -> tuple[str, Any]:
    """Start it through the app's HTTP starter and wait for it to complete: its id and output."""
    status, started = _post(f"{host.base_url}/api/orchestrators/{name}", body)
    assert status == 202

    def completed() -> dict[str, Any]:
        state: dict[str, Any] = _get(started["statusQueryGetUri"])
        assert state["runtimeStatus"] in ("Pending", "Running", "Completed"), state
        return state if state["runtimeStatus"] == "Completed" else {}

    final = wait_until(completed, 30, f"the {name} orchestration to complete")
    return str(started["id"]), final["output"]


def test_the_wheel_carries_devhost_alone_with_its_dashboard_and_command(tool: Tool) -> None:
    names = wheel_names(tool.wheel)
    version = tool.wheel.name.split("-")[1]
    assert tool.wheel.name.startswith(f"devhost-{version}-py3-none-any")
    assert {name.split("/", 1)[0] for name in names} == {"devhost", f"devhost-{version}.dist-info"}
    for needed in ("index.html", "app.css", "js/main.js", "js/views/instances.js"):
        assert f"devhost/dashboard/static/{needed}" in names
    assert "devhost/worker/main.py" in names
    with zipfile.ZipFile(tool.wheel) as archive:
        entry_points = archive.read(f"devhost-{version}.dist-info/entry_points.txt").decode()
    assert "devhost = devhost.cli:main" in entry_points
    help_text = subprocess.run([str(tool.devhost), "--help"], capture_output=True, text=True, check=True).stdout
    assert help_text.startswith("usage: devhost ")


@pytest.mark.parametrize("sdk_app", APP_KEYS, indirect=True)
def test_an_app_in_its_own_venv_runs_a_chaining_orchestration(tool: Tool, sdk_app: SdkApp, tmp_path: Path) -> None:
    host = start_installed(tool, sdk_app.folder, tmp_path / "data", tmp_path / "cache")
    try:
        wait_until(lambda: _answers(host), 60, "the installed devhost to answer")
        # The app runs in its own interpreter with its own SDKs, and devhost is not installed there.
        runtime = _get(f"{host.base_url}/api/runtime")
        assert runtime == {
            "function_name": "runtime",
            "executable": str(sdk_app.python),
            "prefix": str(sdk_app.folder / ".venv"),
            "azure-functions": sdk_app.functions,
            "azure-functions-durable": sdk_app.durable,
            "devhost_installed": False,
        }
        greetings = [f"Hello {city}!" for city in CITIES]
        chaining_id, output = _run_orchestration(host, "chaining", CITIES)
        assert output == greetings
        # The replay schema this SDK takes (V2 on 1.2.9, V3 later), task_all, a timer and an entity.
        fan_out_id, output = _run_orchestration(host, "fan_out_fan_in", CITIES)
        assert output == {"greetings": greetings, "counted": len(CITIES)}
        listed = _get(f"{host.dashboard_url}/api/instances")["instances"]
        assert sorted((item["instanceId"], item["name"], item["runtimeStatus"]) for item in listed) == sorted(
            [(chaining_id, "chaining", "Completed"), (fan_out_id, "fan_out_fan_in", "Completed")]
        )
        output = host.output()
        assert (
            f"Worker runtime: Python {sdk_app.python_version} at {sdk_app.python} "
            f"(the app's .venv); azure-functions {sdk_app.functions}, azure-functions-durable {sdk_app.durable}"
        ) in output
        # The replay shortcuts are on where they were verified (1.5.0, 1.7.0): no fence line at all; 1.2.9 runs
        # the SDK's own code and one line says so. Every azure-functions here has the durable converters.
        fences = [line for line in output.splitlines() if f"azure-functions-durable {sdk_app.durable}: " in line]
        if sdk_app.durable == "1.2.9":
            assert len(fences) == 1 and "replay shortcuts are verified on 1.5.0, 1.7.0 only" in fences[0], output
        else:
            assert fences == [], output
        assert "has no azure.functions._durable_functions" not in output
    finally:
        assert host.terminate() == 0, host.output()

    # `devhost replay` runs the stored history through the app's code in the app's Python and SDK too.
    replay = _replay(tool, chaining_id, sdk_app.folder, tmp_path / "data")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert replay.stdout.strip().endswith("replay matches"), replay.stdout
    assert f"Replaying in Python {sdk_app.python_version} at {sdk_app.python}" in replay.stderr
    # Changed code is judged by devhost's engine on what the app's Python answered.
    changed = tmp_path / "changed-app"
    shutil.copytree(TEMPLATE, changed, ignore=shutil.ignore_patterns("__pycache__"))
    source = (changed / "function_app.py").read_text()
    (changed / "function_app.py").write_text(
        source.replace('call_activity("say_hello", city)', 'call_activity("wave", city)')
    )
    replay = _replay(tool, chaining_id, changed, tmp_path / "data", "--python", str(sdk_app.python))
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert replay.stdout.splitlines()[-1].startswith(
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence number 0 named 'say_hello', but the current orchestration replay instead scheduled an "
        "activity task named 'wave'"
    ), replay.stdout
    # An app that does not import in its Python: the import error, then why the replay stopped.
    (changed / "function_app.py").write_text("raise RuntimeError('broken on purpose')\n" + source)
    replay = _replay(tool, chaining_id, changed, tmp_path / "data", "--python", str(sdk_app.python))
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "RuntimeError: broken on purpose" in replay.stderr
    assert f"error: the orchestrator could not run in {sdk_app.python} (exit code 1; see above)" in replay.stderr


def _replay(tool: Tool, instance_id: str, app: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`devhost replay` in the app folder as a user runs it: no virtualenv active, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run(
        [str(tool.devhost), "replay", instance_id, "--data-dir", str(data_dir), *extra],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tool_env(cache: Path, path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "AzureWebJobsStorage")}
    env.update(XDG_CACHE_HOME=str(cache), PATH=path if path is not None else env.get("PATH", ""))
    return env


def test_start_without_any_azurite_says_to_install_it_or_turn_it_off(tool: Tool, tmp_path: Path) -> None:
    if any(is_listening(port) for port in DEV_PORTS.values()):
        pytest.skip("ports 10000-10002 are in use here, so --azurite auto would (rightly) use that storage")
    app = tmp_path / "my-app"
    shutil.copytree(TEMPLATE, app, ignore=shutil.ignore_patterns("__pycache__"))
    settings = {"IsEncrypted": False, "Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}}
    (app / "local.settings.json").write_text(json.dumps(settings))
    # PATH without any azurite (node stays: the message is about Azurite, not Node.js).
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "azurite").exists())
    port, dashboard_port = free_ports(2)
    arguments = start_arguments(Path("."), port, dashboard_port, tmp_path / "data", azurite="auto")
    result = subprocess.run(
        [str(tool.devhost), *arguments, "--python", sys.executable],
        cwd=app,
        env=_tool_env(tmp_path / "cache", path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "no Azurite was found" in result.stderr
    assert "run `devhost azurite install`" in result.stderr and "pass --azurite off" in result.stderr
    assert "Host started" not in result.stderr


def test_azurite_install_without_node_says_node_20_is_needed(tool: Tool, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(tool.devhost), "azurite", "install"],
        env=_tool_env(tmp_path / "cache", str(tmp_path / "no-tools-here")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "error: Azurite needs Node.js 20 or later, and `node` is not on PATH" in result.stderr


def test_azurite_install_puts_the_pinned_azurite_in_the_cache_and_it_runs(tool: Tool, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = subprocess.run(
        [str(tool.devhost), "azurite", "install"],
        env=_tool_env(cache),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    binary = cache / "devhost" / "azurite" / "node_modules" / ".bin" / "azurite"
    assert f"Azurite {AZURITE_VERSION} is installed: {binary}" in result.stdout
    installed = json.loads((binary.parent.parent / "azurite" / "package.json").read_text())
    assert installed["version"] == AZURITE_VERSION
    # What `devhost start` would pick where there is no repository Azurite: the cached one, which runs.
    found = find_azurite(_tool_env(cache), repo_binary=tmp_path / "no-repo" / "azurite")
    assert found == AzuriteInstall(binary, "devhost's cache")
    ports = dict(zip(("blob", "queue", "table"), free_ports(3), strict=True))
    managed = launch_azurite(tmp_path / "data", ports, binary)
    try:
        managed.wait_until_listening()
    finally:
        managed.stop()
