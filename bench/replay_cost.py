"""The cost of one orchestrator episode's full replay, at 10, 100 and 1,000 history events.

    .venv/bin/python bench/replay_cost.py            # prints the table (well under a minute)
    .venv/bin/python bench/replay_cost.py --runs 5   # fewer runs per figure

devhost sends every episode the whole history and the SDK replays the generator from the start, as the
Durable extension does for out-of-process languages. This measures what one such episode costs for a
chaining orchestrator (bench/apps/replay_app: one activity after another) in the middle of its chain,
with a history of N events as the SDK receives it (the context's ``history``: OrchestratorStarted,
ExecutionStarted, then an OrchestratorStarted and a TaskCompleted per step; the engine leaves out the
events the SDK never reads). The context is built as the engine builds it (devhost.durable.history
events, ``ExecutionState``, ``prepare_episode``, ``build_episode_context``) and run:

* **sdk**: the stock SDK in this process: the ``azure.durable_functions`` orchestrator handle called
  with the context JSON text, nothing patched;
* **sdk+parser**: the same with the timestamp parser the worker installs (devhost/worker/sdk_speedups.py),
  to separate its effect from the channel's;
* **worker whole**: the whole context sent to a real worker process (``python -m devhost.worker`` started
  by ``devhost.workers.pool.WorkerPool``) and the SDK's answer back: JSON framing both ways, the
  socketpair, the worker's thread pool, its parsing and its replay, timed from the request to the answer;
* **worker kept**: devhost's path: the worker already holds the earlier episodes' events parsed
  (devhost/worker/history.py) and is sent this episode's new events only; the SDK still replays the
  generator over the whole history.

With them, the channel's own cost: ``round_trip`` times the trivial activity ``replay_step`` through the
same worker, ROUND_TRIPS calls one at a time (the mean per call) and ROUND_TRIPS in flight at once (the
wall time divided by the calls).

Each figure is the median of ``--runs`` episodes (after one untimed warm-up). ``ratio`` is worker kept /
sdk.
Replay is linear in the history, and a chain of N steps runs N + 1 episodes, so the replays of a whole
chain cost O(N^2): the ``chain`` column estimates them for the chain that reaches each size (a straight
line fitted through the worker kept figures, summed over its episodes). ``bench.run`` runs this as a
subprocess (``--emit``) and prints and stores the table under ``replay_cost``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib.util
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import emit  # noqa: E402
from devhost.durable import history as h  # noqa: E402
from devhost.durable import replay as r  # noqa: E402
from devhost.durable.models import EpisodeContext  # noqa: E402
from devhost.workers.pool import PoolSettings, WorkerPool  # noqa: E402
from devhost.workers.process import WorkerSpec  # noqa: E402

APP_DIR = REPO / "bench" / "apps" / "replay_app"
#: Names in bench/apps/replay_app/function_app.py.
ORCHESTRATOR = "replay_chain"
ACTIVITY = "replay_step"
#: History sizes (events in the context the SDK receives).
SIZES = (10, 100, 1000)
RUNS = 9
SMOKE_RUNS = 3
INSTANCE_ID = "replay-cost"
#: Activity calls per round-trip figure.
ROUND_TRIPS = 2000
#: The chain is longer than any measured point, so each measured episode schedules its next step.
CHAIN_STEPS = 10_000
NOTE = (
    "one episode replays the whole history: a chain of N steps runs N + 1 episodes, so its replays cost "
    "O(N^2) in all ('chain s' estimates them for the chain that reaches each size, from the worker kept figures)"
)


@dataclass
class Episode:
    """One measured episode: the context the engine would send and what it must decide."""

    events: int
    steps: int
    stored_events: int
    context: EpisodeContext
    state: r.ExecutionState
    info: r.EpisodeInfo
    prepared: r.PreparedEpisode


def chain_episode(events: int) -> Episode:
    """The episode of a chaining instance whose context holds `events` events (an even number >= 4).

    The stored history holds the episodes before it (one step each); the incoming event is the last
    step's TaskCompleted, so the SDK replays every earlier step and then schedules the next.
    """
    steps = (events - 2) // 2  # completed steps, counting the incoming one
    if steps < 1 or 2 + 2 * steps != events:
        raise ValueError(f"a chaining episode's context has 2 + 2 x steps events, not {events}")
    clock = datetime(2026, 1, 1, tzinfo=UTC)

    def stamp(n: int) -> str:
        return h.format_ts(clock + timedelta(milliseconds=n))

    input_json = json.dumps(CHAIN_STEPS)
    stored = [
        h.orchestrator_started(stamp(0)),
        h.execution_started(stamp(0), ORCHESTRATOR, input_json, INSTANCE_ID, "exec-1"),
        h.task_scheduled(stamp(0), 0, ACTIVITY, json.dumps("City0")),
        h.orchestrator_completed(stamp(0)),
    ]
    for step in range(1, steps):
        stored += [
            h.orchestrator_started(stamp(step)),
            h.task_completed(stamp(step), step - 1, json.dumps(f"Hello City{step - 1}!")),
            h.task_scheduled(stamp(step), step, ACTIVITY, json.dumps(f"City{step}")),
            h.orchestrator_completed(stamp(step)),
        ]
    state = r.ExecutionState.from_history(stored, None)
    info = r.EpisodeInfo(INSTANCE_ID, ORCHESTRATOR, input_json)
    incoming = [h.task_completed(stamp(steps), steps - 1, json.dumps(f"Hello City{steps - 1}!"))]
    prepared = r.prepare_episode(state, INSTANCE_ID, incoming, clock + timedelta(milliseconds=steps))
    context = r.build_episode_context(state, info, prepared.new_events)
    sent = len(json.loads(context.full_json())["history"])
    if sent != events:
        raise AssertionError(f"built a context of {sent} events instead of {events}")
    return Episode(events, steps, len(stored) + len(incoming), context, state, info, prepared)


def check_answer(episode: Episode, answer: str | BaseException, where: str) -> None:
    """The handle's answer must schedule exactly the next step, as the engine would decide."""
    decision = r.decide(copy.deepcopy(episode.state), episode.info, copy.deepcopy(episode.prepared), answer)
    expected = [r.ActivityWork(episode.steps, ACTIVITY, json.dumps(f"City{episode.steps}"))]
    if decision.outcome is not r.Outcome.RUNNING or decision.activities != expected:
        raise AssertionError(
            f"{where}: the {episode.events}-event episode decided {decision.outcome} {decision.activities} "
            f"{decision.failure_message or ''}"
        )


def orchestrator_handle() -> Callable[[Any], str]:
    """The SDK's handle (Orchestrator.create) of the replay app's chaining orchestrator, imported here."""
    path = APP_DIR / "function_app.py"
    spec = importlib.util.spec_from_file_location(f"replay_app_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for function in module.app.get_functions():
        if function.get_function_name() == ORCHESTRATOR:
            handle: Callable[[Any], str] = function.get_user_function()
            return handle
    raise LookupError(f"{path} has no {ORCHESTRATOR}")


def time_in_process(handle: Callable[[Any], str], episode: Episode, runs: int, where: str) -> float:
    """Median milliseconds of one handle call with the episode's context (after one checked warm-up)."""
    whole = episode.context.full_json()
    check_answer(episode, _call(handle, whole), where)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        _call(handle, whole)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _call(handle: Callable[[Any], str], context: str) -> str | BaseException:
    try:
        return handle(context)
    except Exception as exc:  # the SDK's failure path raises by design; check_answer reports it
        return exc


async def time_round_trips(pool: WorkerPool) -> dict[str, float]:
    """Milliseconds per activity call through the worker: one at a time, and all in flight at once."""

    async def call() -> None:
        result = await pool.activity(ACTIVITY, str(uuid.uuid4()), INSTANCE_ID, '"Paris"')
        if result != '"Hello Paris!"':
            raise AssertionError(f"round trip: {ACTIVITY} answered {result}")

    for _ in range(50):  # warm-up
        await call()
    started = time.perf_counter()
    for _ in range(ROUND_TRIPS):
        await call()
    sequential = (time.perf_counter() - started) / ROUND_TRIPS
    started = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(ROUND_TRIPS)))
    concurrent = (time.perf_counter() - started) / ROUND_TRIPS
    return {
        "calls": ROUND_TRIPS,
        "sequential_ms": round(sequential * 1000, 3),
        "concurrent_ms": round(concurrent * 1000, 3),
    }


async def time_in_worker(episodes: list[Episode], runs: int) -> tuple[list[float], list[float], dict[str, float]]:
    """Median milliseconds of one episode sent to a worker process and answered, per episode: with the
    whole history sent, and with the earlier events kept by the worker."""
    pool = WorkerPool(WorkerSpec(APP_DIR, log_level=logging.WARNING), PoolSettings(process_count=1))
    await pool.start()
    whole, kept = [], []
    try:
        round_trip = await time_round_trips(pool)
        for episode in episodes:
            # No played chunks under a fresh key: the context JSON carries the whole history.
            entire = EpisodeContext(uuid.uuid4().hex, (), episode.context.full_json())
            whole.append(await _median_in_worker(pool, episode, entire, runs, "worker whole"))
            # The first (untimed) call sends the played chunks; the timed ones send only the new events.
            kept.append(await _median_in_worker(pool, episode, episode.context, runs, "worker kept"))
    finally:
        await pool.stop()
    return whole, kept, round_trip


async def _median_in_worker(
    pool: WorkerPool, episode: Episode, context: EpisodeContext, runs: int, where: str
) -> float:
    ok, text = await pool.orchestrate(ORCHESTRATOR, str(uuid.uuid4()), INSTANCE_ID, context)
    check_answer(episode, text if ok else Exception(text), where)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        ok, text = await pool.orchestrate(ORCHESTRATOR, str(uuid.uuid4()), INSTANCE_ID, context)
        timings.append(time.perf_counter() - started)
        check_answer(episode, text if ok else Exception(text), where)
    return statistics.median(timings) * 1000


def chain_estimates(events: list[int], milliseconds: list[float]) -> list[float]:
    """Seconds of replay for the whole chain that reaches each size: a least-squares line
    ms = a + b x events through the measured points, summed over the chain's episodes (2 + 2 j events for
    the episode after step j)."""
    mean_x, mean_y = statistics.fmean(events), statistics.fmean(milliseconds)
    spread = sum((x - mean_x) ** 2 for x in events)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(events, milliseconds, strict=True)) / spread
    intercept = mean_y - slope * mean_x
    estimates = []
    for size in events:
        steps = (size - 2) // 2
        total_ms = sum(intercept + slope * (2 + 2 * j) for j in range(steps + 1))
        estimates.append(round(total_ms / 1000, 3))
    return estimates


def measure(runs: int, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Every figure; the JSON stored under ``replay_cost`` by bench.run."""
    episodes = [chain_episode(size) for size in sizes]
    handle = orchestrator_handle()
    sdk = [time_in_process(handle, episode, runs, "sdk") for episode in episodes]
    # After the stock figures: install() patches the SDK's modules for the rest of this process.
    from devhost.worker import sdk_speedups

    sdk_speedups.install()
    parser = [time_in_process(handle, episode, runs, "sdk+parser") for episode in episodes]
    whole, kept, round_trip = asyncio.run(time_in_worker(episodes, runs))
    chain = chain_estimates(list(sizes), kept) if len(sizes) > 1 else [None] * len(sizes)
    rows = [
        {
            "events": episode.events,
            "steps": episode.steps,
            "stored_events": episode.stored_events,
            "context_bytes": len(episode.context.full_json().encode("utf-8")),
            "sdk_ms": round(sdk_ms, 3),
            "sdk_parser_ms": round(parser_ms, 3),
            "worker_whole_ms": round(whole_ms, 3),
            "worker_kept_ms": round(kept_ms, 3),
            "ratio": round(kept_ms / sdk_ms, 2),
            "chain_s_est": chain_s,
        }
        for episode, sdk_ms, parser_ms, whole_ms, kept_ms, chain_s in zip(
            episodes, sdk, parser, whole, kept, chain, strict=True
        )
    ]
    return {
        "orchestrator": "chaining (bench/apps/replay_app)",
        "runs": runs,
        "rows": rows,
        "round_trip": round_trip,
        "note": NOTE,
    }


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table with its note (printed by this script and by bench.run)."""
    lines = [
        "| history events | steps | context KB | sdk ms | sdk+parser ms | worker whole ms | worker kept ms "
        "| ratio kept/sdk | chain s (est.) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        chain = "-" if row["chain_s_est"] is None else f"{row['chain_s_est']:,.3f}"
        lines.append(
            f"| {row['events']:,} | {row['steps']:,} | {row['context_bytes'] / 1024:,.1f} | {row['sdk_ms']:,.2f} | "
            f"{row['sdk_parser_ms']:,.2f} | {row['worker_whole_ms']:,.2f} | {row['worker_kept_ms']:,.2f} | "
            f"{row['ratio']:.2f} | {chain} |"
        )
    lines += ["", f"Median of {result['runs']} episodes each. Note: {result['note']}."]
    trip = result["round_trip"]
    lines.append(
        f"Channel round trip (a trivial activity through the worker, {trip['calls']:,} calls): "
        f"{trip['sequential_ms']:.3f} ms one at a time, {trip['concurrent_ms']:.3f} ms each all in flight."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table (and, with --emit, the JSON line bench.run reads)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"episodes timed per figure (default {RUNS})")
    parser.add_argument("--emit", action="store_true", help="also print the BENCH-RESULT line bench.run reads")
    args = parser.parse_args(argv)
    # Errors only: the SDK warns on every import of an app without HTTP functions that its auth level is
    # unused (here and, forwarded by the worker, in this process's log).
    logging.basicConfig(level=logging.ERROR)
    result = measure(max(1, args.runs))
    print(table(result), flush=True)
    if args.emit:
        emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
