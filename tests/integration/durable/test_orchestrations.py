"""End-to-end orchestration features through the DurableService API of a real engine."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.engine import DurableEngine
from devhost.durable.models import RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.errors import FunctionNotFoundError, InstanceExistsError, InvalidRequestError
from tests.integration.durable.conftest import APP, Harness, client_body, make_harness_options
from tests.support.engines import start_test_functions, stop_test_functions


async def test_chain_completes_with_ordered_results(harness: Harness) -> None:
    record = await harness.run("chain")
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert record.completed_time is not None and record.completed_time.tzinfo is not None
    assert record.created_time <= record.last_updated_time
    history = await harness.engine.get_history(record.instance_id)
    assert [e["EventType"] for e in history][:2] == [EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED]
    assert sum(e["EventType"] == EventType.TASK_COMPLETED for e in history) == 3


async def test_fan_out_of_1000_activities_completes_in_few_episodes(harness: Harness) -> None:
    before = harness.engine.episodes
    record = await harness.run("fan_out", "1000")
    assert json.loads(record.output or "") == sum(2 * i for i in range(1000))
    history = await harness.engine.get_history(record.instance_id)
    episodes = sum(e["EventType"] == EventType.ORCHESTRATOR_STARTED for e in history)
    assert episodes <= 6, f"{episodes} episodes for a 1000-activity fan-out: completions were not batched"
    assert harness.engine.episodes - before == episodes
    assert sum(e["EventType"] == EventType.TASK_COMPLETED for e in history) == 1000


async def test_activity_retry_succeeds_on_a_later_attempt(harness: Harness) -> None:
    spec = {"key": "retry-ok", "fail_times": 2, "max": 3}
    record = await harness.run("retry_orch", json.dumps(spec))
    assert json.loads(record.output or "") == "ok after 3"
    history = await harness.engine.get_history(record.instance_id)
    scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    timers = [e["EventId"] for e in history if e["EventType"] == EventType.TIMER_CREATED]
    assert scheduled == [0, 2, 4] and timers == [1, 3]


async def test_activity_retry_gives_up_after_max_attempts(harness: Harness) -> None:
    spec = {"key": "retry-fail", "fail_times": 10, "max": 2}
    record = await harness.run("retry_orch", json.dumps(spec))
    output = json.loads(record.output or "")
    assert output.startswith("gave up: Activity function 'flaky' failed: RuntimeError: attempt 2 failed")
    assert "Traceback" in output  # Details carry the activity's traceback


async def test_failed_activity_fails_the_orchestration_with_its_error(harness: Harness) -> None:
    record = await harness.run("failing_orch")
    assert record.runtime_status is RuntimeStatus.FAILED
    message = record.failure_message or ""
    assert message.startswith("Orchestrator function 'failing_orch' failed: ")
    assert "Activity function 'always_fail' failed: ValueError: kaboom" in message
    assert json.loads(record.output or "") == message


async def test_orchestrator_exception_fails_the_instance(harness: Harness) -> None:
    record = await harness.run("raising_orch")
    assert record.runtime_status is RuntimeStatus.FAILED
    assert record.failure_message == "Orchestrator function 'raising_orch' failed: orchestrator broke"


async def test_unknown_activity_fails_the_task_with_does_not_exist(harness: Harness) -> None:
    record = await harness.run("unknown_activity_orch")
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "").startswith("Activity function 'no_such_activity' does not exist.")


async def test_unknown_orchestrator_and_bad_ids_are_refused(harness: Harness) -> None:
    with pytest.raises(FunctionNotFoundError):
        await harness.engine.start_orchestration("no_such_orchestrator")
    for bad in ["", "a/b", "a\\b", "a?b", "a#b", "tab\there", "x" * 257]:
        with pytest.raises(InvalidRequestError):
            await harness.engine.start_orchestration("chain", bad)
    assert await harness.engine.start_orchestration("chain", "x" * 256) == "x" * 256


async def test_running_id_is_refused_and_ended_id_is_replaced(harness: Harness) -> None:
    iid = await harness.engine.start_orchestration("event_orch", "same-id")
    with pytest.raises(InstanceExistsError):
        await harness.engine.start_orchestration("event_orch", "same-id")
    await harness.engine.raise_event(iid, "approval", '"first"')
    first = await harness.ended(iid)
    assert json.loads(first.output or "") == {"approval": "first"}
    await harness.engine.start_orchestration("chain", "same-id")
    second = await harness.ended(iid)
    assert second.name == "chain" and second.execution_id != first.execution_id
    history = await harness.engine.get_history(iid)
    assert sum(e["EventType"] == EventType.EXECUTION_STARTED for e in history) == 1


async def test_durable_timer_fires(harness: Harness) -> None:
    record = await harness.run("timer_orch")
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") >= 0.3


async def test_external_event_raised_before_and_after_the_wait(harness: Harness) -> None:
    early = await harness.engine.start_orchestration("event_orch")
    await harness.engine.raise_event(early, "approval", '"early"')
    assert json.loads((await harness.ended(early)).output or "") == {"approval": "early"}

    late = await harness.engine.start_orchestration("event_orch")
    await harness.reached(late, RuntimeStatus.RUNNING)
    await harness.engine.raise_event(late, "approval", '{"by": "me"}')
    assert json.loads((await harness.ended(late)).output or "") == {"approval": {"by": "me"}}


async def test_task_any_between_event_and_timer(harness: Harness) -> None:
    event_wins = await harness.engine.start_orchestration("race_orch", None, "30")
    await harness.reached(event_wins, RuntimeStatus.RUNNING)
    await harness.engine.raise_event(event_wins, "ping", "null")
    assert json.loads((await harness.ended(event_wins)).output or "") == "event"
    timer_wins = await harness.run("race_orch", "0.2")
    assert json.loads(timer_wins.output or "") == "timer"


async def test_sub_orchestrations_with_generated_given_and_retried_ids(harness: Harness) -> None:
    record = await harness.run("parent_orch", None, "parent-1")
    first, second, third = json.loads(record.output or "")
    assert first == {"child": "parent-1:0", "parent": "parent-1", "value": 2}
    assert second == {"child": "parent-1-named", "parent": "parent-1", "value": 4}
    assert "Orchestrator function 'child_orch' failed: child failed on purpose" in third
    child = await harness.engine.get_instance("parent-1:0")
    assert child is not None and child.parent_instance_id == "parent-1"
    failing = await harness.engine.get_instance("parent-1-failing")
    assert failing is not None and failing.runtime_status is RuntimeStatus.FAILED
    history = await harness.engine.get_history("parent-1")
    created = [e for e in history if e["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED]
    assert [e["InstanceId"] for e in created] == [
        "parent-1:0",
        "parent-1-named",
        "parent-1-failing",
        "parent-1-failing",
    ]


async def test_continue_as_new_restarts_with_fresh_history(harness: Harness) -> None:
    record = await harness.run("counter_loop", "0")
    assert record.runtime_status is RuntimeStatus.COMPLETED
    assert json.loads(record.output or "") == 3
    assert record.input == "3"
    history = await harness.engine.get_history(record.instance_id)
    started = [e for e in history if e["EventType"] == EventType.EXECUTION_STARTED]
    assert len(started) == 1 and started[0]["Input"] == "3"


async def test_custom_status_is_visible_while_running(harness: Harness) -> None:
    iid = await harness.engine.start_orchestration("status_orch")
    # The first episode sets Running and the custom status in the same commit.
    running = await harness.reached(iid, RuntimeStatus.RUNNING)
    assert json.loads(running.custom_status or "null") == {"stage": "waiting"}
    await harness.engine.raise_event(iid, "go", '"value"')
    done = await harness.ended(iid)
    assert json.loads(done.custom_status or "") == {"stage": "done"}
    assert json.loads(done.output or "") == "value"


async def test_time_and_uuid_are_deterministic_across_replays(harness: Harness) -> None:
    record = await harness.run("deterministic_orch")
    output = json.loads(record.output or "")
    assert output["same"] is True and output["replaying"] is False


@contextlib.asynccontextmanager
async def _engine(data_dir: Path, **options: Any) -> AsyncIterator[DurableEngine]:
    """An engine on the harness's test app with the given EngineOptions overrides."""
    functions = await start_test_functions(APP)
    engine = DurableEngine.open(data_dir, functions, make_harness_options(**options))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
        await stop_test_functions(functions)


async def test_concurrency_limit_on_activities(tmp_path: Path) -> None:
    async with _engine(tmp_path / "hub", max_concurrent_activities=3) as engine:
        iid = await engine.start_orchestration("probe_fan", None, "20")
        record = await engine.wait_for_instance(iid, 20)
        # The probes count how many of them ran at once (module state of the one worker process).
        assert record is not None and json.loads(record.output or "") == {"count": 20, "max": 3}


async def test_concurrency_limit_on_orchestrator_functions(tmp_path: Path) -> None:
    """maxConcurrentOrchestratorFunctions bounds the episodes running in the worker (the engine keeps more in
    flight, but those wait for their commit or their turn)."""
    async with _engine(tmp_path / "hub", max_concurrent_orchestrations=2) as engine:
        ids = [await engine.start_orchestration("overlapping_episodes", None, None) for _ in range(12)]
        outputs = []
        for iid in ids:
            record = await engine.wait_for_instance(iid, 20)
            assert record is not None and record.runtime_status is RuntimeStatus.COMPLETED, record
            outputs.append(json.loads(record.output or ""))
        # Each reports the most episodes seen running at once so far; without the limit the engine's
        # 2 x EPISODES_PER_SLOT episode tasks ran 4 at once.
        assert max(outputs) == 2


async def test_bad_activity_result_fails_only_that_instance(harness: Harness) -> None:
    bad = await harness.engine.start_orchestration("bad_result_orch")
    good = await harness.engine.start_orchestration("chain")
    failed = await harness.ended(bad)
    assert failed.runtime_status is RuntimeStatus.FAILED
    assert "Activity function 'bad_result' failed: TypeError" in (failed.failure_message or "")
    assert (await harness.ended(good)).runtime_status is RuntimeStatus.COMPLETED


async def test_call_http_runs_the_builtin_http_activity(harness: Harness) -> None:
    from aiohttp import web

    from tests.support.ports import free_port

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi from http")

    server = web.Application()
    server.router.add_get("/hello", hello)
    runner = web.AppRunner(server)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        record = await harness.run("http_orch", client_body(f"http://127.0.0.1:{port}/hello"))
    finally:
        await runner.cleanup()
    assert json.loads(record.output or "") == {"status": 200, "content": "hi from http"}


async def test_client_inputs_follow_the_extension_encoding(harness: Harness) -> None:
    # The SDK client double-encodes: the instance keeps the body, the orchestrator gets the value.
    sdk_style = await harness.run("fan_out", client_body(3))
    assert json.loads(sdk_style.output or "") == 6
    assert sdk_style.input == client_body(3)
    plain = await harness.run("fan_out", "3")
    assert json.loads(plain.output or "") == 6
    with pytest.raises(InvalidRequestError):
        await harness.engine.start_orchestration("fan_out", None, "{not json")


async def test_plain_json_string_body_reaches_the_orchestrator_as_text(harness: Harness) -> None:
    iid = await harness.engine.start_orchestration("event_orch", None, json.dumps("plain text"))
    await harness.engine.raise_event(iid, "approval", "1")
    await harness.ended(iid)
    history = await harness.engine.get_history(iid)
    started = next(e for e in history if e["EventType"] == EventType.EXECUTION_STARTED)
    assert started["Input"] == '"plain text"'
