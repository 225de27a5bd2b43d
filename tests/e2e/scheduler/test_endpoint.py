"""The endpoint itself: `devhost scheduler` and `devhost start --scheduler-port`, task hubs, access on loopback
and beyond, and a port that is taken."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from azure.core.credentials import AccessToken
from durabletask import client as dt_client
from durabletask import task

from tests.support.azurite import REPO_ROOT
from tests.support.devhost import running_devhost
from tests.support.ports import free_port
from tests.support.scheduler import client, orchestrator, running_scheduler, running_worker

APPS = Path(__file__).resolve().parents[2] / "apps"
ADMIN_KEY = "scheduler-test-admin-key"


class StaticToken:
    """A TokenCredential that hands out a fixed token: how an SDK sends devhost's admin key as its Bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def shout(ctx: task.ActivityContext, text: str) -> str:
    return text.upper()


@orchestrator
def mixed(ctx: task.OrchestrationContext, city: str) -> Any:
    """A gRPC orchestrator that calls the app's activity `hello` (run by devhost) and its own `shout`."""
    greeting = yield ctx.call_activity("hello", input=city)
    return (yield ctx.call_activity(shout, input=greeting))


def test_an_unknown_task_hub_is_not_found_and_the_known_ones_are_named(tmp_path: Path):
    with running_scheduler(tmp_path, task_hubs="default,other") as scheduler, pytest.raises(grpc.RpcError) as raised:
        client(scheduler.port, taskhub="nope").get_orchestration_state("x")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "task hub 'nope' does not exist" in raised.value.details()
    assert "default, other" in raised.value.details()


def test_the_task_hubs_persist_in_the_data_directory(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        instance_id = client(scheduler.port).schedule_new_orchestration("later", input=1)
    with running_scheduler(tmp_path) as scheduler:
        state = client(scheduler.port).get_orchestration_state(instance_id)
    assert state is not None and state.name == "later" and state.serialized_input == "1"


def test_loopback_accepts_any_token_as_the_emulator_does(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        sdk = dt_client.TaskHubGrpcClient(
            host_address=f"127.0.0.1:{scheduler.port}",
            metadata=[("taskhub", "default"), ("authorization", "Bearer some-azure-token")],
        )
        assert sdk.get_orchestration_state("none") is None


def test_beyond_loopback_a_call_needs_the_admin_key(tmp_path: Path):
    env = {"DEVHOST_ADMIN_KEY": ADMIN_KEY}
    with running_scheduler(tmp_path, host="0.0.0.0", extra_env=env) as scheduler:
        with pytest.raises(grpc.RpcError) as raised:
            client(scheduler.port).get_orchestration_state("x")
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "Bearer <admin key>" in raised.value.details()
        with pytest.raises(grpc.RpcError) as wrong:
            client(scheduler.port, token_credential=StaticToken("wrong")).get_orchestration_state("x")
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        keyed = dt_client.TaskHubGrpcClient(
            host_address=f"127.0.0.1:{scheduler.port}",
            metadata=[("taskhub", "default"), ("authorization", f"Bearer {ADMIN_KEY}")],
        )
        assert keyed.get_orchestration_state("none") is None


def test_a_taken_port_stops_the_scheduler_with_a_clear_error(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devhost", "scheduler", "--port", str(port), "--dashboard-port", str(free_port()),
             "--data-dir", str(tmp_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"the scheduler endpoint cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--scheduler-port off" in result.stderr


@pytest.mark.parametrize(
    ("hubs", "message"),
    [("", "at least one task hub"), ("bad/name", "task hub name 'bad/name' is not valid"), ("a,A", "twice")],
)
def test_bad_task_hub_lists_are_refused(hubs: str, message: str):
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "scheduler", "--task-hubs", hubs],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr


def test_devhost_start_serves_the_apps_task_hub_and_routes_names(tmp_path: Path):
    port = free_port()
    with running_devhost(APPS / "durable_app", None, data_dir=tmp_path, scheduler_port=port) as host:
        host.wait_for_output(f"Durable Task Scheduler endpoint: http://localhost:{port} (TASKHUB=DevhostE2E)")
        sdk = client(port, taskhub="DevhostE2E")
        # The app's own orchestrator, started over gRPC, is run by devhost's workers.
        own = sdk.schedule_new_orchestration("hello_orchestrator", input="Oslo")
        state = sdk.wait_for_orchestration_completion(own, timeout=60)
        assert state is not None and json.loads(state.serialized_output or "") == ["Hello Oslo", "Hello Tokyo"]
        # A name the app does not define goes to the gRPC worker; its call of the app's activity to devhost.
        with running_worker(port, mixed, shout, taskhub="DevhostE2E"):
            other = sdk.schedule_new_orchestration(mixed, input="Lima")
            state = sdk.wait_for_orchestration_completion(other, timeout=60)
        assert state is not None and state.serialized_output == '"HELLO LIMA"', state
        # The management API of the Functions host sees the gRPC instance like any other.
        with pytest.raises(grpc.RpcError) as raised:
            client(port, taskhub="default").get_orchestration_state(other)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND and "DevhostE2E" in raised.value.details()
        url = f"{host.base_url}/runtime/webhooks/durabletask/instances/{other}"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = json.loads(response.read())
        assert status["name"] == "mixed" and status["runtimeStatus"] == "Completed"


def test_devhost_start_with_a_taken_scheduler_port_fails_clearly(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devhost", "start", "--app-dir", str(APPS / "durable_app"), "--port", "0",
             "--dashboard-port", "0", "--azurite", "off", "--data-dir", str(tmp_path), "--scheduler-port", str(port)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the scheduler endpoint cannot listen on 127.0.0.1:{port}" in result.stderr


def _dashboard(port: int, path: str) -> tuple[str, Any]:
    """GET a dashboard path (redirects followed): the path it ended at, and its JSON (text when not JSON)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        body = response.read()
        final = urllib.parse.urlsplit(response.url).path
    try:
        return final, json.loads(body)
    except ValueError:
        return final, body.decode()


def test_the_dashboard_shows_each_hub_at_its_own_path(tmp_path: Path):
    with running_scheduler(tmp_path, task_hubs="default,other") as scheduler:
        port = scheduler.dashboard_port
        other_id = client(scheduler.port, taskhub="other").schedule_new_orchestration("waiting_in_other")
        hubs = [{"name": "default", "url": "/"}, {"name": "other", "url": "/hubs/other/"}]
        assert _dashboard(port, "/api/settings")[1] | {"taskHubs": hubs} == _dashboard(port, "/api/settings")[1]
        assert _dashboard(port, "/api/settings")[1]["taskHub"] == "default"
        assert _dashboard(port, "/hubs/other/api/settings")[1]["taskHub"] == "other"
        assert _dashboard(port, f"/hubs/other/api/instances/{other_id}")[1]["name"] == "waiting_in_other"
        # The page and its assets under the hub's path; the page's own links are relative to it.
        page = _dashboard(port, "/hubs/other/")[1]
        assert 'src="static/js/main.js"' in page
        assert _dashboard(port, "/hubs/other/static/js/main.js")[0] == "/hubs/other/static/js/main.js"
        # Canonical paths: the first hub's long form, another case and a missing slash redirect.
        assert _dashboard(port, "/hubs/default/api/settings") == ("/api/settings", _dashboard(port, "/api/settings")[1])
        assert _dashboard(port, "/hubs/OTHER/api/settings")[0] == "/hubs/other/api/settings"
        assert _dashboard(port, "/hubs/other")[0] == "/hubs/other/"
        for path, message in [
            (f"/api/instances/{other_id}", f"no instance with id '{other_id}'"),
            ("/hubs/nope/", "No task hub named 'nope'. Task hubs: default, other (see --task-hubs)."),
            ("/hubs/nope/api/settings", '"type": "UnknownTaskHub"'),
            ("/hubs/other/api/bogus", "no API route GET /hubs/other/api/bogus"),
        ]:
            with pytest.raises(urllib.error.HTTPError) as missing:
                _dashboard(port, path)
            assert missing.value.code == 404
            assert message in missing.value.read().decode()
            missing.value.close()  # the error holds the response and its socket
        assert f"http://localhost:{port}/hubs/other/ (task hub other)" in scheduler.output()
