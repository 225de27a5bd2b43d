"""The task hub survives a host restart and a kill -9: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from devhost.durable.models import RuntimeStatus
from devhost.durable.protocol import EventType
from tests.integration.durable.conftest import Harness
from tests.support.waiting import wait_until_async

REPO_ROOT = Path(__file__).resolve().parents[3]


def marks(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def assert_each_result_applied_once(history: list[dict], expected_tasks: int) -> None:
    scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    completed = Counter(e["TaskScheduledId"] for e in history if e["EventType"] == EventType.TASK_COMPLETED)
    assert len(scheduled) == expected_tasks
    assert sorted(completed) == sorted(scheduled)
    assert set(completed.values()) == {1}, f"results applied more than once: {completed}"


async def test_close_and_reopen_mid_run_completes_once(harness: Harness, tmp_path: Path) -> None:
    marks_path = tmp_path / "marks.txt"
    spec = {"count": 20, "path": str(marks_path), "sleep": 0.15}
    iid = await harness.engine.start_orchestration("restart_fan", "restart-1", json.dumps(spec))

    async def some_done() -> bool:
        return len(marks(marks_path)) >= 4

    await wait_until_async(some_done, message="a few activities done")
    engine = await harness.reopen()
    record = await engine.wait_for_instance(iid, 30)
    assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED, record
    assert json.loads(record.output or "") == sum(range(20)) + 1000
    assert_each_result_applied_once(await engine.get_history(iid), 21)
    assert set(marks(marks_path)) == {*range(20), 1000}


async def test_kill_9_mid_run_then_reopen_completes_once(harness: Harness, tmp_path: Path) -> None:
    await harness.engine.stop()  # the data dir belongs to the child process for now
    marks_path = tmp_path / "marks.txt"
    spec = json.dumps({"count": 30, "path": str(marks_path), "sleep": 0.1})
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.durable.crash_host",
        str(harness.data_dir),
        "crash-1",
        spec,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def progressed() -> bool:
            return len(marks(marks_path)) >= 8

        await wait_until_async(progressed, timeout=30, message="the child host to run some activities")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert len(marks(marks_path)) < 31, "the child finished before it was killed"

    engine = await harness.reopen()
    record = await engine.wait_for_instance("crash-1", 30)
    assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED, record
    assert json.loads(record.output or "") == sum(range(30)) + 1000
    assert_each_result_applied_once(await engine.get_history("crash-1"), 31)
    assert set(marks(marks_path)) == {*range(30), 1000}
