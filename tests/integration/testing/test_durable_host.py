"""The durable_host fixture in a real inner pytest session (pytester): a real devhost, Azurite and worker."""

from __future__ import annotations

import pytest

from tests.integration.testing.support import app_project, run_inner
from tests.support.azurite import Azurite

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.azurite, pytest.mark.slow]

SESSION_TESTS = """
import os
from datetime import timedelta

PIDS = set()


def test_chain_completes(durable_host):
    instance_id = durable_host.start("chain", ["Lima", "Cairo"])
    status = durable_host.wait(instance_id)
    assert status.runtime_status.value == "Completed"
    assert status.output == ["Hello Lima!", "Hello Cairo!"]
    assert any("Saying hello to Lima." in line for line in durable_host.logs)
    PIDS.add(durable_host.process.process.pid)


def test_instances_of_earlier_tests_are_purged(durable_host):
    assert durable_host.status("never-started") is None
    listing = durable_host.http("GET", "/runtime/webhooks/durabletask/instances").json()
    assert listing == []
    assert not any("Saying hello to Lima." in line for line in durable_host.logs)
    PIDS.add(durable_host.process.process.pid)


def test_approval_event_wins_the_race(durable_host):
    instance_id = durable_host.start("approval")
    durable_host.raise_event(instance_id, "Approval", True)
    assert durable_host.wait(instance_id).output == {"outcome": "approved"}


def test_approval_times_out_after_24_virtual_hours(durable_host):
    instance_id = durable_host.start("approval")
    durable_host.advance(timedelta(hours=23))
    assert durable_host.status(instance_id).runtime_status.value == "Running"
    durable_host.advance(timedelta(hours=1, seconds=1))
    status = durable_host.wait(instance_id, timeout=10)
    assert status.output["outcome"] == "escalated"
    assert 24 <= status.output["waited_hours"] < 24.1


def test_one_host_for_the_session():
    assert len(PIDS) == 1
"""


def test_session_scoped_host_serves_every_test_with_clean_instances(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    app_project(pytester, monkeypatch, azurite)
    pytester.makepyfile(test_session=SESSION_TESTS)
    result = run_inner(pytester)
    result.assert_outcomes(passed=5)


FUNCTION_SCOPE_TESTS = """
import pytest

PIDS = []


def test_first(durable_host):
    PIDS.append(durable_host.process.process.pid)
    durable_host.wait(durable_host.start("chain", ["A"], instance_id="kept"))


def test_second_gets_a_new_host_and_task_hub(durable_host):
    PIDS.append(durable_host.process.process.pid)
    assert durable_host.status("kept") is None
    assert PIDS[0] != PIDS[1]
"""


def test_function_scoped_host_is_started_for_each_test_for_the_app_dir_of_the_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    # The app in a folder of its own, named by the ini option relative to the rootdir.
    app_project(pytester, monkeypatch, azurite, ini="devhost_scope = function\ndevhost_app_dir = app", subdir="app")
    pytester.makepyfile(test_function_scope=FUNCTION_SCOPE_TESTS)
    result = run_inner(pytester)
    result.assert_outcomes(passed=2)


TRIGGER_TESTS = """
import json

import pytest


def test_http_function_starts_an_orchestration(durable_host):
    response = durable_host.http("POST", "start/chain", json=["Quito"])
    assert response.status == 202
    payload = response.json()
    assert payload["statusQueryGetUri"].startswith(durable_host.origin)
    assert durable_host.wait(payload["id"]).output == ["Hello Quito!"]
    assert any("Executed 'Functions.http_start' (Succeeded" in line for line in durable_host.logs)


def test_queue_message_starts_an_orchestration(durable_host):
    durable_host.send_queue_message("testing-app-requests", {"id": "from-queue", "cities": ["Accra"]})
    status = durable_host.wait("from-queue", timeout=20)
    assert status.output == ["Hello Accra!"]


def test_timer_function_fired_on_demand(durable_host):
    durable_host.fire_timer("nightly")
    assert durable_host.wait("nightly-run").output == ["Hello Oslo!"]


@pytest.mark.asyncio
async def test_the_sdk_client_is_bound_to_the_host(durable_host):
    instance_id = await durable_host.client.start_new("chain", None, ["Baku"])
    durable_host.wait(instance_id)
    status = await durable_host.client.get_status(instance_id)
    assert status.runtime_status.value == "Completed"
    assert status.output == ["Hello Baku!"]
"""


def test_http_queue_timer_and_sdk_client(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    app_project(pytester, monkeypatch, azurite)
    pytester.makepyfile(test_triggers=TRIGGER_TESTS)
    result = run_inner(pytester)
    result.assert_outcomes(passed=4)


FAILING_TESTS = """
def test_unknown_orchestrator(durable_host):
    durable_host.start("no_such_orchestrator")


def test_unknown_timer(durable_host):
    durable_host.fire_timer("no_such_timer")


def test_instance_that_does_not_end(durable_host):
    instance_id = durable_host.start("approval", instance_id="stuck")
    durable_host.wait(instance_id, timeout=0.5)
"""


def test_failures_name_what_the_app_defines_and_show_the_history(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    app_project(pytester, monkeypatch, azurite)
    pytester.makepyfile(test_failing=FAILING_TESTS)
    result = run_inner(pytester)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*starting orchestrator 'no_such_orchestrator' failed (HTTP 400): The function 'no_such_orchestrator' "
            "doesn't exist*Registered orchestrators: approval, chain*",
            "*the app has no function 'no_such_timer'; it defines: approval, chain, http_start, nightly, queue_start, "
            "say_hello*",
            "*instance 'stuck' did not end within 0.5 s; it is Running.",
            "*History:",
            "*ExecutionStarted*",
            "*TimerCreated*",
        ]
    )


def test_an_app_dir_without_function_app_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_any="def test_host(durable_host):\n    pass\n")
    missing = pytester.path / "nowhere"
    missing.mkdir()
    result = run_inner(pytester, f"--devhost-app-dir={missing}")
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*devhost: {missing} has no function_app.py; point --devhost-app-dir*"])


def test_a_host_that_fails_to_start_fails_the_test_with_its_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    app_project(pytester, monkeypatch, azurite)
    (pytester.path / "function_app.py").write_text("raise RuntimeError('the app is broken on purpose')\n")
    pytester.makepyfile(test_any="def test_host(durable_host):\n    pass\n")
    result = run_inner(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*devhost exited with code 1 while starting:*", "*the app is broken on purpose*"])


def test_tests_that_do_not_ask_for_durable_host_start_nothing(pytester: pytest.Pytester) -> None:
    # No function_app.py here: the plugin is loaded but idle, so a project without an app is unaffected.
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run_inner(pytester)
    result.assert_outcomes(passed=1)
