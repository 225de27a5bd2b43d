"""How fast devhost's pytest plugin tests an app: 20 durable_host tests in one session, and run_orchestrator.

    .venv/bin/python bench/testing_speed.py              # about 8 s: prints both figures
    .venv/bin/python bench/testing_speed.py --runs 500   # more run_orchestrator runs

* **durable_host session**: a pytest session (a subprocess, as a developer runs it) over a copy of
  tests/apps/testing_app with 20 tests that use ``durable_host``: chains started through the management
  API and over HTTP, approvals decided by an event and approvals timed out with ``advance(hours=24)``,
  each waited for. The host starts once (session scope); the figure is the time from the first test's
  call (the host is up) to the end of the session, so it holds the 20 tests and the purges between
  them. Goal: under 10 s. The host's start-up is printed beside it.
* **run_orchestrator chaining**: the Hello Cities chaining orchestration (three activities) run by
  ``devhost.testing.run_orchestrator`` in this process; the median of ``--runs`` runs after a warm-up.
  Goal: under 5 ms.

Azurite is started on free ports for the session and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from devhost.azurite import launch_azurite  # noqa: E402 - after the path set-up above
from devhost.bindings.storage import DEV_ACCOUNT, DEV_ACCOUNT_KEY  # noqa: E402
from devhost.net import free_ports  # noqa: E402

TESTING_APP = REPO_ROOT / "tests" / "apps" / "testing_app"
SESSION_TESTS = 20

CONFTEST = """
import json
import os
import time

MARKS = {}


def pytest_sessionstart(session):
    MARKS["start"] = time.perf_counter()


def pytest_runtest_call(item):
    MARKS.setdefault("first_call", time.perf_counter())


def pytest_sessionfinish(session, exitstatus):
    MARKS["end"] = time.perf_counter()
    with open(os.environ["BENCH_MARKS"], "w") as out:
        json.dump(MARKS, out)
"""

TESTS = """
from datetime import timedelta

import pytest


@pytest.mark.parametrize("round", range(5))
def test_chain(durable_host, round):
    status = durable_host.wait(durable_host.start("chain", ["Lima", "Cairo", "Oslo"]))
    assert status.output == ["Hello Lima!", "Hello Cairo!", "Hello Oslo!"]


@pytest.mark.parametrize("round", range(5))
def test_chain_over_http(durable_host, round):
    response = durable_host.http("POST", "start/chain", json=["Quito"])
    assert durable_host.wait(response.json()["id"]).output == ["Hello Quito!"]


@pytest.mark.parametrize("round", range(5))
def test_approved(durable_host, round):
    instance_id = durable_host.start("approval")
    durable_host.raise_event(instance_id, "Approval", True)
    assert durable_host.wait(instance_id).output == {"outcome": "approved"}


@pytest.mark.parametrize("round", range(5))
def test_escalated_after_a_virtual_day(durable_host, round):
    instance_id = durable_host.start("approval")
    durable_host.advance(timedelta(hours=24))
    assert durable_host.wait(instance_id).output["outcome"] == "escalated"
"""


def durable_host_session() -> dict[str, float]:
    """Run the 20-test session; its timings in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-testing-") as folder:
        root = Path(folder)
        project = root / "project"
        project.mkdir()
        for item in TESTING_APP.iterdir():
            if item.is_file():
                shutil.copy(item, project / item.name)
        (project / "conftest.py").write_text(CONFTEST)
        (project / "test_app.py").write_text(TESTS)
        (project / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        ports = dict(zip(("blob", "queue", "table"), free_ports(3), strict=True))
        azurite = launch_azurite(root / "azurite", ports)
        try:
            azurite.wait_until_listening()
            storage = (
                f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{ports['blob']}/{DEV_ACCOUNT};"
                f"QueueEndpoint=http://127.0.0.1:{ports['queue']}/{DEV_ACCOUNT};"
                f"TableEndpoint=http://127.0.0.1:{ports['table']}/{DEV_ACCOUNT};"
            )
            marks_file = root / "marks.json"
            env = {**os.environ, "AzureWebJobsStorage": storage, "BENCH_MARKS": str(marks_file)}
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            wall = time.perf_counter() - started
        finally:
            azurite.stop()
        if result.returncode != 0 or f"{SESSION_TESTS} passed" not in result.stdout:
            raise SystemExit(f"the benchmark session failed:\n{result.stdout}\n{result.stderr}")
        marks = json.loads(marks_file.read_text())
        return {
            "host_start_s": marks["first_call"] - marks["start"],
            "tests_s": marks["end"] - marks["first_call"],
            "wall_s": wall,
        }


def run_orchestrator_chaining(runs: int) -> float:
    """Median milliseconds of one run_orchestrator run of the chaining orchestration."""
    import function_app
    from devhost.testing import run_orchestrator

    activities = {"say_hello": function_app.say_hello}
    run_orchestrator(function_app.chaining_orchestration, activities=activities)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run_orchestrator(function_app.chaining_orchestration, activities=activities)
        samples.append((time.perf_counter() - started) * 1000)
        assert result.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    return statistics.median(samples)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="run_orchestrator runs (default 200)")
    args = parser.parse_args()
    per_run_ms = run_orchestrator_chaining(args.runs)
    session = durable_host_session()
    print(f"run_orchestrator chaining (3 activities): {per_run_ms:.2f} ms median of {args.runs} (goal < 5 ms)")
    print(
        f"durable_host: {SESSION_TESTS} tests in {session['tests_s']:.2f} s after the host is up (goal < 10 s); "
        f"host start-up {session['host_start_s']:.2f} s; pytest wall time {session['wall_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
