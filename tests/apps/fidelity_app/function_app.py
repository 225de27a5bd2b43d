"""Test app: behaviours where the local host must match Azure's Functions host and Durable extension.

Replay (`context.is_replaying` as a full replay of the history sets it), non-determinism after a code
change, functions that block or spin, worker processes that crash, module state per worker process, and
suspend/resume status codes. Only public SDK APIs are used. Functions that a test needs to observe from
outside touch a file in the directory named by FIDELITY_MARKERS (set by the tests through the host's
environment).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _touch_marker(name: str) -> None:
    """Create <FIDELITY_MARKERS>/<name> when the variable is set (lets a test see a function reach a point)."""
    directory = os.environ.get("FIDELITY_MARKERS")
    if directory:
        (Path(directory) / name).touch()


# ---------------------------------------------------------------- HTTP functions


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start orchestrator `name`; the JSON request body (if any) is its input. 202 + check-status payload."""
    body = req.get_body()
    orchestration_input = json.loads(body) if body.strip() else None
    instance_id = await client.start_new(req.route_params["name"], None, orchestration_input)
    return client.create_check_status_response(req, instance_id)


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    """The cheapest function there is: its latency is the host's own overhead."""
    return func.HttpResponse("pong")


_whoami_calls = 0
_whoami_lock = threading.Lock()


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest) -> func.HttpResponse:
    """The worker's pid and how many times this module (in this process) has answered."""
    global _whoami_calls
    with _whoami_lock:
        _whoami_calls += 1
        count = _whoami_calls
    return func.HttpResponse(json.dumps({"pid": os.getpid(), "count": count}), mimetype="application/json")


@app.route(route="suspend_twice/{instance_id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def suspend_twice(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Suspend the instance, wait until it is Suspended, suspend it again; returns the second call's error text."""
    instance_id = req.route_params["instance_id"]
    await client.suspend(instance_id, "first suspend")
    for _ in range(200):  # the suspend is applied by the orchestration's next episode; at most ~10 s
        status = await client.get_status(instance_id)
        if status.runtime_status == df.OrchestrationRuntimeStatus.Suspended:
            break
        await asyncio.sleep(0.05)
    try:
        await client.suspend(instance_id, "second suspend")
    except Exception as exc:
        return func.HttpResponse(str(exc))
    return func.HttpResponse("second suspend raised nothing")


# ---------------------------------------------------------------- activities


@app.activity_trigger(input_name="value")
def echo(value: Any) -> Any:
    return value


@app.activity_trigger(input_name="value")
def echo_changed(value: Any) -> Any:
    return f"changed {value}"


@app.activity_trigger(input_name="key")
def sleepy_activity(key: str) -> str:
    """Blocks its thread for 8 s (longer than the 5 s functionTimeout)."""
    _touch_marker(f"sleepy-activity-{key}")
    time.sleep(8)
    return key


@app.activity_trigger(input_name="key")
def spinning_activity(key: str) -> str:
    """Never returns: only the host's functionTimeout can end it."""
    _touch_marker(f"spinning-activity-{key}")
    while True:
        pass


@app.activity_trigger(input_name="request")
def crash_activity(request: dict[str, str]) -> str:
    """Kills its worker process the first time it runs for a (kind, key); returns normally afterwards."""
    kind, key = request["kind"], request["key"]
    marker = Path(os.environ["FIDELITY_MARKERS"]) / f"{kind}-{key}"
    if marker.exists():
        return f"recovered {kind}"
    marker.touch()
    if kind == "exit":
        os._exit(1)
    if kind == "sysexit":
        sys.exit(3)
    if kind == "segfault":
        ctypes.string_at(0)
    if kind == "memory":
        raise MemoryError()
    raise ValueError(f"unknown crash kind {kind!r}")


# ---------------------------------------------------------------- is_replaying (the extension's five scenarios)


@app.orchestration_trigger(context_name="context")
def replay_basic(context: df.DurableOrchestrationContext):
    """is_replaying just before and just after one activity."""
    before = context.is_replaying
    result = yield context.call_activity("echo", "hello")
    after = context.is_replaying
    return {"before_activity": before, "after_activity": after, "activity_result": result}


@app.orchestration_trigger(context_name="context")
def replay_checkpoints(context: df.DurableOrchestrationContext):
    """A snapshot of is_replaying before each of three activities, and one after the last."""
    snapshots = []
    results = []
    for label, value in (("before_one", "one"), ("before_two", "two"), ("before_three", "three")):
        snapshots.append({"label": label, "is_replaying": context.is_replaying})
        results.append((yield context.call_activity("echo", value)))
    snapshots.append({"label": "after_three", "is_replaying": context.is_replaying})
    return {"snapshots": snapshots, "activities": results}


@app.orchestration_trigger(context_name="context")
def replay_conditional_log(context: df.DurableOrchestrationContext):
    """Logs one guarded line (only when not replaying) and one unguarded line per episode."""
    instance_id = context.instance_id
    logging.info("fidelity-episode %s", instance_id)
    live_checkpoints = 0
    if not context.is_replaying:
        logging.info("fidelity-live-start %s", instance_id)
        live_checkpoints += 1
    result = yield context.call_activity("echo", "logged")
    if not context.is_replaying:
        live_checkpoints += 1
    return {"live_checkpoints": live_checkpoints, "activity_result": result}


@app.orchestration_trigger(context_name="context")
def replay_counter(context: df.DurableOrchestrationContext):
    """Counts replayed and live checkpoints: at the start and after each of three activities."""
    counts = {"replayed": 0, "live": 0}

    def checkpoint() -> None:
        counts["replayed" if context.is_replaying else "live"] += 1

    checkpoint()
    results = []
    for value in ("a", "b", "c"):
        results.append((yield context.call_activity("echo", value)))
        checkpoint()
    return {
        "replay_count": counts["replayed"],
        "non_replay_count": counts["live"],
        "total_checkpoints": counts["replayed"] + counts["live"],
        "activities": results,
    }


@app.orchestration_trigger(context_name="context")
def replay_fan_out(context: df.DurableOrchestrationContext):
    """is_replaying before a fan-out of three activities and after task_all."""
    before = context.is_replaying
    results = yield context.task_all([context.call_activity("echo", value) for value in ("alpha", "beta", "gamma")])
    after = context.is_replaying
    return {"before_fan_out": before, "after_fan_in": after, "activities": results}


# ---------------------------------------------------------------- non-determinism


@app.orchestration_trigger(context_name="context")
def changing_orchestrator(context: df.DurableOrchestrationContext):
    """Its second activity's name comes from the environment: a restart with another value changes the code."""
    first = yield context.call_activity("echo", "a")
    second = yield context.call_activity(os.environ.get("FIDELITY_STEP2_ACTIVITY", "echo"), "b")
    event = yield context.wait_for_external_event("go")
    return [first, second, event]


# ---------------------------------------------------------------- blocking, spinning, crashing


@app.orchestration_trigger(context_name="context")
def quick_orchestrator(context: df.DurableOrchestrationContext):
    """Two quick activities in sequence."""
    key = context.get_input()
    first = yield context.call_activity("echo", f"{key}-1")
    second = yield context.call_activity("echo", f"{key}-2")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def sleepy_orchestrator(context: df.DurableOrchestrationContext):
    """Blocks its thread for 8 s in the episode after its activity (orchestrator code should never block)."""
    key = context.get_input()
    result = yield context.call_activity("echo", key)
    _touch_marker(f"sleepy-orchestrator-{key}")
    time.sleep(8)
    return result


@app.orchestration_trigger(context_name="context")
def sleepy_activity_orchestrator(context: df.DurableOrchestrationContext):
    """Calls the activity that blocks for 8 s."""
    result = yield context.call_activity("sleepy_activity", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def spinning_orchestrator(context: df.DurableOrchestrationContext):
    """Spins forever (holding the CPU, no I/O) in the episode after its activity."""
    key = context.get_input()
    yield context.call_activity("echo", key)
    _touch_marker(f"spinning-orchestrator-{key}")
    while True:
        pass


@app.orchestration_trigger(context_name="context")
def spinning_activity_orchestrator(context: df.DurableOrchestrationContext):
    """Calls the activity that spins forever."""
    result = yield context.call_activity("spinning_activity", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def crash_orchestrator(context: df.DurableOrchestrationContext):
    """Calls crash_activity with {"kind": ..., "key": ...} and returns its result."""
    result = yield context.call_activity("crash_activity", context.get_input())
    return result


# ---------------------------------------------------------------- suspend / resume


@app.orchestration_trigger(context_name="context")
def waiting_orchestrator(context: df.DurableOrchestrationContext):
    """Waits for the external event "go" and returns its data."""
    data = yield context.wait_for_external_event("go")
    return data
