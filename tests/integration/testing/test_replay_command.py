"""`python -m devhost replay`: a stored instance replayed through the app's current code, in the foreground."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.integration.testing.support import TESTING_APP
from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def replay(app_dir: Path, data_dir: Path, instance_id: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "devhost", "replay", instance_id, "--app-dir", str(app_dir)]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def completed_chain(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A copy of the testing app, the data folder of a host that ran `chain` to completion, and the instance id."""
    app_dir = tmp_path_factory.mktemp("replay-app")
    for item in TESTING_APP.iterdir():
        if item.is_file():
            shutil.copy(item, app_dir / item.name)
    data_dir = tmp_path_factory.mktemp("replay-data")
    with running_devhost(app_dir, azurite, data_dir=data_dir) as host:
        request = urllib.request.Request(
            f"{host.base_url}/runtime/webhooks/durabletask/orchestrators/chain/replay-me",
            data=json.dumps(["Oslo", "Rome"]).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202

        def completed() -> bool:
            url = f"{host.base_url}/runtime/webhooks/durabletask/instances/replay-me"
            with urllib.request.urlopen(url, timeout=10) as answer:
                return bool(json.loads(answer.read())["runtimeStatus"] == "Completed")

        wait_until(completed, 30, "the chain to complete")
    return app_dir, data_dir, "replay-me"


def test_replay_of_a_completed_instance_through_unchanged_code_matches(completed_chain) -> None:
    app_dir, data_dir, instance_id = completed_chain
    result = replay(app_dir, data_dir, instance_id)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Replaying 'chain' instance 'replay-me' (Completed, 3 episodes, 2 scheduled steps)")
    assert "  step 0: activity 'say_hello' with input \"Oslo\"" in lines
    assert "  step 1: activity 'say_hello' with input \"Rome\"" in lines
    assert lines[-1] == "replay matches"


def test_replay_through_changed_code_names_the_first_step_that_differs(completed_chain, tmp_path: Path) -> None:
    app_dir, data_dir, instance_id = completed_chain
    changed = tmp_path / "changed-app"
    shutil.copytree(app_dir, changed)
    source = (changed / "function_app.py").read_text()
    # The second call now goes to another activity: step 1 no longer matches the history.
    source = source.replace(
        'greetings.append((yield context.call_activity("say_hello", city)))',
        'greetings.append((yield context.call_activity("say_hello" if not greetings else "wave", city)))',
    )
    source += '\n\n@app.activity_trigger(input_name="city")\ndef wave(city: str) -> str:\n    return city\n'
    (changed / "function_app.py").write_text(source)
    result = replay(changed, data_dir, instance_id)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence number 1 named 'say_hello', but the current orchestration replay instead scheduled an "
        "activity task named 'wave' with this sequence number. Was a change made to the orchestrator code after "
        "this instance had already started running?"
    )


def test_replay_of_an_unknown_instance_says_so(completed_chain) -> None:
    app_dir, data_dir, _ = completed_chain
    result = replay(app_dir, data_dir, "no-such-instance")
    assert result.returncode == 1
    assert f"error: no instance 'no-such-instance' in {data_dir / 'taskhub.sqlite'}" in result.stderr


def test_replay_of_a_waiting_instance_while_its_host_runs(azurite: Azurite, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_devhost(TESTING_APP, azurite, data_dir=data_dir) as host:
        url = f"{host.base_url}/runtime/webhooks/durabletask/orchestrators/approval/waiting-one"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30) as response:
            assert response.status == 202

        def timer_created() -> bool:
            status_url = f"{host.base_url}/runtime/webhooks/durabletask/instances/waiting-one?showHistory=true"
            with urllib.request.urlopen(status_url, timeout=10) as answer:
                body = json.loads(answer.read())
            return any(event["EventType"] == "TimerCreated" for event in body.get("historyEvents") or [])

        wait_until(timer_created, 30, "the approval to wait on its timer")
        # The host keeps the task hub open meanwhile: replay only reads it.
        result = replay(TESTING_APP, data_dir, "waiting-one")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Replaying 'approval' instance 'waiting-one' (Running, 1 episode, 1 scheduled step)")
    assert lines[1].startswith("  step 0: timer until ")
    assert lines[-1] == "replay matches"
