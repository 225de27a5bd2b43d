"""A v2 test app exercising the whole durable SDK surface the engine must support."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Attempts per key for the flaky activity (lives in the test process, like a real side effect).
_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()
#: Flipped by a test to change what `nondeterministic` yields first on replay: another activity, a timer, or
#: nothing at all.
switches: dict[str, bool] = {"nondeterministic": False, "timer_instead": False, "skip_call": False}


# ---------------------------------------------------------------- activities


@app.activity_trigger(input_name="city")
def hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="value")
async def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="value", activity="Echo")
def echo(value: Any) -> Any:
    return value


@app.activity_trigger(input_name="spec")
def flaky(spec: dict[str, Any]) -> str:
    with _attempts_lock:
        _attempts[spec["key"]] = _attempts.get(spec["key"], 0) + 1
        attempt = _attempts[spec["key"]]
    if attempt <= spec["fail_times"]:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@app.activity_trigger(input_name="message")
def always_fail(message: str) -> str:
    raise ValueError(message)


@app.activity_trigger(input_name="spec")
async def slow_mark(spec: dict[str, Any]) -> int:
    """Sleeps, then appends a line to a file: lets a test count executions across a restart."""
    await asyncio.sleep(spec.get("sleep", 0.05))
    await asyncio.to_thread(_append_line, spec["path"], f"{spec['n']}\n")
    return int(spec["n"])


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


#: Running/maximum concurrent executions of `probe` (checks the engine's concurrency limit).
concurrency = {"running": 0, "max": 0}


@app.activity_trigger(input_name="value")
async def probe(value: int) -> list[int]:
    """[value, the most probes seen running at once so far] (all run on the worker's one event loop)."""
    concurrency["running"] += 1
    concurrency["max"] = max(concurrency["max"], concurrency["running"])
    try:
        await asyncio.sleep(0.02)
    finally:
        concurrency["running"] -= 1
    return [value, concurrency["max"]]


@app.activity_trigger(input_name="value")
def where(value: int) -> dict[str, Any]:
    """Quick and CPU-bound: which thread ran it."""
    return {"value": value, "thread": threading.current_thread().name}


@app.activity_trigger(input_name="value")
def busy(value: int) -> int:
    """Quick and CPU-bound, but not free: computes for 0.3 ms."""
    until = time.thread_time() + 0.0003
    while time.thread_time() < until:
        pass
    return value


@app.activity_trigger(input_name="value")
def sleepy(value: int) -> dict[str, Any]:
    """Blocks for 50 ms like an I/O call: when it ran, and on which thread."""
    started = time.monotonic()
    time.sleep(0.05)
    return {"value": value, "thread": threading.current_thread().name, "start": started, "end": time.monotonic()}


@app.activity_trigger(input_name="value")
def bad_result(value: Any) -> Any:
    return object()  # not JSON-serializable: the task must fail, nothing else


# ---------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def bad_result_orch(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("bad_result", None))


@app.orchestration_trigger(context_name="context")
def http_orch(context: df.DurableOrchestrationContext):
    response = yield context.call_http("GET", context.get_input())
    return {"status": response["statusCode"], "content": response["content"]}


@app.orchestration_trigger(context_name="context")
def activity_fan(context: df.DurableOrchestrationContext):
    """Input [activity name, count]: call the activity with 0..count-1 in parallel."""
    name, count = context.get_input()
    return (yield context.task_all([context.call_activity(name, i) for i in range(count)]))


@app.orchestration_trigger(context_name="context")
def probe_fan(context: df.DurableOrchestrationContext):
    values = yield context.task_all([context.call_activity("probe", i) for i in range(context.get_input())])
    return {"count": len(values), "max": max(seen for _, seen in values)}


#: Orchestrator episodes of `overlapping_episodes` running now, and the most seen at once (this worker process).
episodes = {"running": 0, "max": 0}
_episodes_lock = threading.Lock()


@app.orchestration_trigger(context_name="context")
def overlapping_episodes(context: df.DurableOrchestrationContext):
    """Blocks 20 ms in every episode (on purpose, to be counted) while it counts how many episodes run at once."""
    with _episodes_lock:
        episodes["running"] += 1
        episodes["max"] = max(episodes["max"], episodes["running"])
    try:
        time.sleep(0.02)
    finally:
        with _episodes_lock:
            episodes["running"] -= 1
    return (yield context.call_activity("most_episodes_at_once", 0))


@app.activity_trigger(input_name="value")
def most_episodes_at_once(value: int) -> int:
    """The most `overlapping_episodes` episodes this worker ran at once so far."""
    return episodes["max"]


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    results = []
    for city in ["Tokyo", "Seattle", "London"]:
        results.append((yield context.call_activity(hello, city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    values = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(values)


@app.orchestration_trigger(context_name="context")
def retry_orch(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=spec["max"])
    try:
        return (yield context.call_activity_with_retry("flaky", options, spec))
    except Exception as exc:
        return f"gave up: {exc}"


@app.orchestration_trigger(context_name="context")
def failing_orch(context: df.DurableOrchestrationContext):
    yield context.call_activity("always_fail", "kaboom")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def raising_orch(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "x")
    raise ValueError("orchestrator broke")


@app.orchestration_trigger(context_name="context")
def unknown_activity_orch(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:
        return str(exc)
    return "unexpected"


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    if switches["timer_instead"]:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    elif not switches["skip_call"]:
        first = "hello" if not switches["nondeterministic"] else "echo"
        yield context.call_activity(first, "a")
    yield context.wait_for_external_event("go")
    return "done"


@app.orchestration_trigger(context_name="context")
def timer_orch(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(milliseconds=300))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def event_orch(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("approval")
    return {"approval": value}


@app.orchestration_trigger(context_name="context")
def race_orch(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=context.get_input()))
    event = context.wait_for_external_event("ping")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return "event"
    return "timer"


@app.orchestration_trigger(context_name="context")
def child_orch(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if isinstance(value, dict) and value.get("fail"):
        raise RuntimeError("child failed on purpose")
    doubled = yield context.call_activity("double", value)
    return {"child": context.instance_id, "parent": context.parent_instance_id, "value": doubled}


@app.orchestration_trigger(context_name="context")
def parent_orch(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("child_orch", 1)
    second = yield context.call_sub_orchestrator("child_orch", 2, f"{context.instance_id}-named")
    try:
        yield context.call_sub_orchestrator_with_retry(
            "child_orch", df.RetryOptions(10, 2), {"fail": True}, f"{context.instance_id}-failing"
        )
        third = "unexpected"
    except Exception as exc:
        third = str(exc)
    return [first, second, third]


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 3:
        yield context.call_activity("double", n)
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def status_orch(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    value = yield context.wait_for_external_event("go")
    context.set_custom_status({"stage": "done"})
    return value


@app.orchestration_trigger(context_name="context")
def deterministic_orch(context: df.DurableOrchestrationContext):
    first_uuid = context.new_uuid()
    first_time = context.current_utc_datetime.isoformat()
    echoed = yield context.call_activity("Echo", [first_uuid, first_time])
    second = yield context.call_activity("echo", context.new_uuid())
    # Replays must recompute the same values the activity saw the first time.
    return {"same": echoed == [first_uuid, first_time], "second": second, "replaying": context.is_replaying}


@app.orchestration_trigger(context_name="context")
def entity_orch(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Counter", context.get_input())
    context.signal_entity(entity, "add", 5)
    context.signal_entity(entity, "add", 2)
    value = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "explode")
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"value": value, "failure": failure}


@app.orchestration_trigger(context_name="context")
def restart_fan(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    tasks = [
        context.call_activity("slow_mark", {"n": i, "path": spec["path"], "sleep": spec["sleep"]})
        for i in range(spec["count"])
    ]
    values = yield context.task_all(tasks)
    chained = yield context.call_activity("slow_mark", {"n": 1000, "path": spec["path"], "sleep": 0})
    return sum(values) + chained


@app.orchestration_trigger(context_name="context")
def rewind_orch(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("hello", "before")
    second = yield context.call_activity("flaky", context.get_input())
    return [first, second]


# ---------------------------------------------------------------- entities


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        context.set_state(current + context.get_input())
    elif operation == "get":
        context.set_result(current)
    elif operation == "reset":
        context.set_state(0)
    elif operation == "delete":
        context.destruct_on_exit()
    elif operation == "explode":
        raise ValueError("counter exploded")
