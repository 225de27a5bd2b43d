"""Nothing accepted is lost or done twice: a worker killed mid-activity, workers with different filters, and a
kill -9 of devhost while gRPC orchestrations run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from durabletask import client as dt_client
from durabletask import task

from tests.support.azurite import REPO_ROOT
from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_scheduler, running_worker, start_scheduler
from tests.support.waiting import wait_until

#: A worker process that only takes the activity `slow_step`, which never finishes (it marks that it started).
DOOMED_WORKER = """
import sys, time
from pathlib import Path
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

def slow_step(ctx, _):
    Path(sys.argv[2]).write_text("started")
    time.sleep(600)

worker = DurableTaskSchedulerWorker(
    host_address=f"http://127.0.0.1:{sys.argv[1]}", taskhub="default", token_credential=None, secure_channel=False
)
worker.add_activity(slow_step)
worker.use_work_item_filters()
worker.start()
time.sleep(600)
"""


def slow_step(ctx: task.ActivityContext, _: Any) -> str:
    return "done by the second worker"


@orchestrator
def one_step(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.call_activity("slow_step"))


def on_a(ctx: task.ActivityContext, value: int) -> str:
    return f"a{value}"


def on_b(ctx: task.ActivityContext, value: int) -> str:
    return f"b{value}"


@orchestrator
def relay(ctx: task.OrchestrationContext, count: int) -> Any:
    results = []
    for i in range(count):
        results.append((yield ctx.call_activity("on_a", input=i)))
        results.append((yield ctx.call_activity("on_b", input=i)))
    return results


def pause(ctx: task.ActivityContext, value: int) -> int:
    time.sleep(0.3)
    return value + 1


@orchestrator
def three_pauses(ctx: task.OrchestrationContext, value: int) -> Any:
    for _ in range(3):
        value = yield ctx.call_activity(pause, input=value)
    return value


def _task_events(sdk: dt_client.TaskHubGrpcClient, instance_id: str, kind: str) -> int:
    return sum(type(event).__name__ == kind for event in sdk.get_orchestration_history(instance_id))


def test_a_worker_killed_mid_activity_gives_the_activity_to_another(scheduler: DevHost, tmp_path: Path):
    marker = tmp_path / "started"
    script = tmp_path / "doomed_worker.py"
    script.write_text(DOOMED_WORKER)
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, one_step, filters=True):
        doomed = subprocess.Popen([sys.executable, str(script), str(scheduler.port), str(marker)], cwd=REPO_ROOT)
        try:
            instance_id = sdk.schedule_new_orchestration(one_step)
            wait_until(marker.exists, 30, "the doomed worker to start the activity")
        finally:
            doomed.kill()
            doomed.wait(timeout=10)
        scheduler.wait_for_output("1 work item(s) it held handed out again")
        with running_worker(scheduler.port, slow_step, filters=True):
            state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None and state.serialized_output == '"done by the second worker"'
    assert _task_events(sdk, instance_id, "TaskScheduledEvent") == 1
    assert _task_events(sdk, instance_id, "TaskCompletedEvent") == 1


def test_workers_with_different_filters_each_get_only_their_names(scheduler: DevHost):
    # Without filters each worker would get the other's activities and fail them as unregistered.
    with running_worker(scheduler.port, relay, on_a, filters=True), running_worker(scheduler.port, on_b, filters=True):
        sdk = client(scheduler.port)
        ids = [sdk.schedule_new_orchestration(relay, input=4) for _ in range(3)]
        states = [sdk.wait_for_orchestration_completion(i, timeout=60) for i in ids]
    for state in states:
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
        assert json.loads(state.serialized_output or "") == [x for i in range(4) for x in (f"a{i}", f"b{i}")]


def test_kill_9_of_devhost_while_orchestrations_run_loses_nothing(tmp_path: Path):
    first = start_scheduler(tmp_path)
    port = first.port
    sdk = client(port)
    try:
        with running_worker(port, three_pauses, pause):
            ids = [sdk.schedule_new_orchestration(three_pauses, input=i * 10) for i in range(8)]
            # Killed mid-way: an activity result is committed, the rest are still to run.
            wait_until(lambda: _task_events(sdk, ids[-1], "TaskCompletedEvent") >= 1, 30, "a first activity result")
            first.kill()
            with running_scheduler(tmp_path, port=port) as second:
                # gRPC channels back off after refused connections: wait until this one reaches the new process.
                wait_until(lambda: sdk.get_orchestration_state(ids[0]) is not None, 60, "the client to reconnect")
                states = [sdk.wait_for_orchestration_completion(i, timeout=90) for i in ids]
                assert "Task hub 'default': worker-1 connected" in second.output()
                completions = [_task_events(sdk, instance_id, "TaskCompletedEvent") for instance_id in ids]
    finally:
        first.kill()
    for index, state in enumerate(states):
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
        assert state.serialized_output == str(index * 10 + 3)
    assert completions == [3] * len(ids)  # each activity result recorded once


def test_a_frozen_worker_that_keeps_its_connection_open_gives_its_activity_back(tmp_path: Path):
    # SIGSTOP freezes the worker whole (its gRPC transport too): the connection stays open but stops answering the
    # endpoint's keepalive pings, which is how the endpoint tells a frozen worker from a slow activity.
    marker = tmp_path / "started"
    script = tmp_path / "frozen_worker.py"
    script.write_text(DOOMED_WORKER)
    settings = {"DEVHOST_SCHEDULER_KEEPALIVE_SECONDS": "1"}
    with running_scheduler(tmp_path / "data", extra_env=settings) as scheduler:
        sdk = client(scheduler.port)
        with running_worker(scheduler.port, one_step, filters=True):
            frozen = subprocess.Popen([sys.executable, str(script), str(scheduler.port), str(marker)], cwd=REPO_ROOT)
            try:
                instance_id = sdk.schedule_new_orchestration(one_step)
                wait_until(marker.exists, 30, "the worker to start the activity")
                os.kill(frozen.pid, signal.SIGSTOP)
                scheduler.wait_for_output("1 work item(s) it held handed out again", timeout=30)
                with running_worker(scheduler.port, slow_step, filters=True):
                    state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
            finally:
                frozen.kill()  # a stopped process is killed all the same
                frozen.wait(timeout=10)
        assert state is not None and state.serialized_output == '"done by the second worker"'
        assert _task_events(sdk, instance_id, "TaskScheduledEvent") == 1
        assert _task_events(sdk, instance_id, "TaskCompletedEvent") == 1
