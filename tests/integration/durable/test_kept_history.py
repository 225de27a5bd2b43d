"""A real worker process keeps an instance's parsed history; the host sends each episode's events once.

Each episode's answer from the worker is compared with the SDK handle run in this process over the whole
history (what the extension sends), including after the host's record of what it sent is wrong.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.durable import history as h
from devhost.durable import replay as r
from devhost.workers.durable_runner import WorkerDurableRunner
from tests.support.apps import import_test_app
from tests.support.engines import start_test_functions, stop_test_functions


def chain_handle() -> Any:
    for function in import_test_app("durable_features").app.get_functions():
        if function.get_function_name() == "chain":
            return function.get_user_function()
    raise AssertionError("durable_features has no chain orchestrator")


async def test_episodes_in_a_worker_match_whole_history_replays_even_after_a_miss() -> None:
    functions = await start_test_functions("durable_features")
    try:
        runner = functions.runner
        assert isinstance(runner, WorkerDurableRunner)
        pool = runner.pool
        worker = pool._workers[0]  # the only worker (one process by default)
        assert worker is not None and worker.keeps_history
        handle = chain_handle()
        state = r.ExecutionState()
        info = r.EpisodeInfo("kept-1", "chain", None)
        now = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
        incoming = [h.execution_started(h.format_ts(now), "chain", None, "kept-1", "exec-1")]
        for episode in range(4):
            prepared = r.prepare_episode(state, info.instance_id, incoming, now)
            context = r.build_episode_context(state, info, prepared.new_events)
            if episode == 2:
                # The host believes the worker holds every chunk so far; it holds one fewer. The worker
                # answers history_miss and the pool sends the whole played history again.
                worker.sent_history[info.instance_id] = (context.history_key, len(context.played))
            ok, text = await pool.orchestrate("chain", f"inv-{episode}", info.instance_id, context)
            assert (ok, text) == (True, handle(context.full_json()))
            assert worker.sent_history[info.instance_id] == (context.history_key, len(context.played))
            decision = r.decide(state, info, prepared, text)
            state.apply_events(decision.events)
            if decision.outcome is not r.Outcome.RUNNING:
                break
            now += timedelta(seconds=1)
            incoming = [
                h.task_completed(h.format_ts(now), a.task_id, json.dumps(f"Hello {json.loads(a.input or 'null')}!"))
                for a in decision.activities
            ]
        assert decision.outcome is r.Outcome.COMPLETED
        assert json.loads(decision.output or "") == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    finally:
        await stop_test_functions(functions)
