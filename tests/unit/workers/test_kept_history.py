"""A worker's kept history: episodes built over kept, parsed events give exactly what the whole history gives.

Every episode here runs twice through the real SDK handle: once with the whole history in the context JSON
(what the extension sends) and once with only the new events plus the events this worker kept, as devhost's
host sends them. Both must return the same text, so user code cannot tell them apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext

from devhost.durable import history as h
from devhost.durable import replay as r
from devhost.durable.models import EpisodeContext
from devhost.protocol.messages import PlayedHistory
from devhost.worker import durable, sdk_speedups
from devhost.worker.history import KeptHistories
from devhost.workers.process import WorkerProcess, WorkerSpec
from tests.support.apps import import_test_app

Handle = Callable[[Any], str]


@pytest.fixture(scope="module", autouse=True)
def speedups_installed() -> None:
    sdk_speedups.install()
    assert sdk_speedups.keeps_history(), "the installed SDK failed devhost's kept-history check"


def handles(app_name: str) -> dict[str, Handle]:
    found: dict[str, Handle] = {}
    for function in import_test_app(app_name).app.get_functions():
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        if any(b.get("type") == "orchestrationTrigger" for b in bindings):
            found[function.get_function_name()] = function.get_user_function()
    return found


def ledger() -> WorkerProcess:
    """The host's record of what one worker was sent (no process is started)."""
    worker = WorkerProcess(0, WorkerSpec(Path(".")), lambda *_: None)
    worker.keeps_history = True
    return worker


def run_both_ways(
    handle: Handle, name: str, input_json: str | None, sent: WorkerProcess, kept: KeptHistories
) -> Iterator[tuple[tuple[bool, str] | None, tuple[bool, str] | None]]:
    """Run one instance to its end (activities answer with their input), yielding each episode's two results."""
    state = r.ExecutionState()
    info = r.EpisodeInfo("inst-1", name, input_json)
    now = datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    incoming = [h.execution_started(h.format_ts(now), name, input_json, "inst-1", "exec-1")]
    for _ in range(50):
        prepared = r.prepare_episode(state, info.instance_id, incoming, now)
        context = r.build_episode_context(state, info, prepared.new_events)
        whole = durable.run_orchestrator(handle, context.full_json(), KeptHistories(), info.instance_id, None)
        played = sent.played_history(info.instance_id, context)
        split = durable.run_orchestrator(handle, context.current_json, kept, info.instance_id, played)
        yield whole, split
        assert whole is not None
        ok, text = whole
        decision = r.decide(state, info, prepared, text if ok else Exception(text))
        state.apply_events(decision.events)
        if decision.outcome is not r.Outcome.RUNNING:
            return
        now += timedelta(milliseconds=1500)
        incoming = [h.task_completed(h.format_ts(now), a.task_id, a.input) for a in decision.activities]
    raise AssertionError(f"{name} did not end in 50 episodes")


@pytest.mark.parametrize(
    ("app_name", "name", "input_json"),
    [
        ("durable_features", "chain", None),
        ("durable_features", "deterministic_orch", None),
        ("durable_features", "fan_out", "4"),
        ("fidelity_app", "replay_checkpoints", None),
        ("fidelity_app", "replay_counter", None),
        ("fidelity_app", "replay_fan_out", None),
    ],
)
def test_kept_history_gives_what_the_whole_history_gives(app_name: str, name: str, input_json: str | None) -> None:
    kept = KeptHistories()
    episodes = list(run_both_ways(handles(app_name)[name], name, input_json, ledger(), kept))
    assert len(episodes) >= 2
    for whole, split in episodes:
        assert split == whole
    assert episodes[-1][0] is not None and episodes[-1][0][0], "the orchestration completed"


def test_the_handle_sees_the_whole_history_and_episode_time() -> None:
    """What from_json derives from the history (its events, the episode's time) comes from all of it."""
    seen: list[tuple[int, str, bool]] = []

    def handle(context: Any) -> str:
        parsed = DurableOrchestrationContext.from_json(context.body)
        seen.append((len(parsed.histories), parsed.current_utc_datetime.isoformat(), parsed.is_replaying))
        return handles("durable_features")["chain"](context)

    sent, kept = ledger(), KeptHistories()
    list(run_both_ways(handle, "chain", None, sent, kept))
    # Each episode's two calls (whole, then kept) saw the same history length and time.
    assert [seen[i] for i in range(0, len(seen), 2)] == [seen[i] for i in range(1, len(seen), 2)]
    assert [length for length, _, _ in seen[::2]] == sorted(length for length, _, _ in seen[::2])


def played(key: str, base: int, *chunks: list[dict[str, Any]]) -> PlayedHistory:
    return PlayedHistory(key=key, base=base, chunks=[json.dumps(chunk)[1:-1] for chunk in chunks])


def started(minute: int) -> dict[str, Any]:
    return {"EventType": 12, "EventId": -1, "Timestamp": f"2026-01-01T00:{minute:02d}:00Z", "IsPlayed": True}


def test_a_worker_without_the_base_answers_none() -> None:
    kept = KeptHistories()
    assert kept.played_events("a", played("k1", 1, [started(1)])) is None, "nothing kept for a yet"
    first = kept.played_events("a", played("k1", 0, [started(1)]))
    assert first is not None and len(first) == 1
    both = kept.played_events("a", played("k1", 1, [started(2), started(3)]))
    assert both is not None and [e.timestamp.minute for e in both] == [1, 2, 3]
    assert kept.played_events("a", played("k1", 1, [started(4)])) is None, "the worker holds 2 chunks, not 1"
    assert kept.played_events("a", played("k2", 2, [started(4)])) is None, "another key: a rebuilt state"
    again = kept.played_events("a", played("k2", 0, [started(5)]))
    assert again is not None and [e.timestamp.minute for e in again] == [5], "base 0 starts over"


def test_a_chunk_the_sdk_rejects_leaves_the_kept_events_alone() -> None:
    kept = KeptHistories()
    assert kept.played_events("a", played("k", 0, [started(1)])) is not None
    with pytest.raises(TypeError):
        kept.played_events("a", played("k", 1, [{"NoSuchField": 1}]))
    after = kept.played_events("a", played("k", 1, [started(2)]))
    assert after is not None and len(after) == 2


def test_least_recently_used_instances_go_first_past_the_budget() -> None:
    kept = KeptHistories(max_events=4)
    assert kept.played_events("a", played("k", 0, [started(1), started(2)])) is not None
    assert kept.played_events("b", played("k", 0, [started(3), started(4)])) is not None
    assert kept.played_events("a", played("k", 1, [started(5)])) is not None, "a is now the most recent"
    assert len(kept) == 1, "b was dropped to bring the kept events back within the budget"
    assert kept.played_events("b", played("k", 1, [started(6)])) is None


def test_the_ledger_sends_each_chunk_once_per_key() -> None:
    sent = ledger()
    one = sent.played_history("i", EpisodeContext("k", ("c1",), "{}"))
    two = sent.played_history("i", EpisodeContext("k", ("c1", "c2", "c3"), "{}"))
    rebuilt = sent.played_history("i", EpisodeContext("k2", ("c1", "c2", "c3"), "{}"))
    assert one == PlayedHistory(key="k", base=0, chunks=["c1"])
    assert two == PlayedHistory(key="k", base=1, chunks=["c2", "c3"])
    assert rebuilt == PlayedHistory(key="k2", base=0, chunks=["c1", "c2", "c3"])
    sent.keeps_history = False
    assert sent.played_history("i", EpisodeContext("k2", ("c1",), "{}")) is None


def test_the_self_check_refuses_a_from_json_that_differs_from_the_sdks() -> None:
    stock = sdk_speedups.stock_from_json()
    installed = DurableOrchestrationContext.__dict__["from_json"]

    def forgets_the_time(cls: type[DurableOrchestrationContext], json_string: str) -> Any:
        context = installed.__func__(cls, json_string)
        context._current_utc_datetime = datetime(2000, 1, 1, tzinfo=UTC)
        return context

    assert sdk_speedups.same_context(stock)
    DurableOrchestrationContext.from_json = classmethod(forgets_the_time)
    try:
        assert not sdk_speedups.same_context(stock)
    finally:
        DurableOrchestrationContext.from_json = installed
