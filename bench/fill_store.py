"""Fill a task hub with many completed instances, for the dashboard latency benchmark.

Two ways, both printing what they used and how fast it went:

* ``--mode store`` (default, seconds for 100,000): the store's own write path. The store has no
  dedicated bulk API, so each instance is written with the public store operations the engine uses
  (``queries.create_instance`` + ``queries.commit_episode``: row, realistic history, Completed
  status), many per transaction through ``SqliteStore.write`` (group commit). The engine is not
  running meanwhile.
* ``--mode engine`` (minutes): real orchestrations started through ``DurableEngine`` and run by the
  real SDK (tests/apps/dashboard_app's ``quick`` orchestrator), waiting until all completed.

    .venv/bin/python bench/fill_store.py --data-dir .bench/dashboard-hub --count 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devhost.durable import history as h  # noqa: E402
from devhost.durable.models import EngineOptions, RuntimeStatus  # noqa: E402
from devhost.durable.store import queries  # noqa: E402
from devhost.durable.store.sqlite import SqliteStore  # noqa: E402

NAMES = ("hello_orchestrator", "fan_out_cities", "chain_cities", "process_city")
CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")
BATCH = 1000


def _instance_writes(
    start_index: int, count: int, base: datetime, spacing_us: int
) -> Callable[[sqlite3.Connection], None]:
    """A store write creating `count` completed instances (a fan-out history for every 4th one)."""

    def write(conn: sqlite3.Connection) -> None:
        for n in range(start_index, start_index + count):
            created = base + timedelta(microseconds=n * spacing_us)
            done = created + timedelta(milliseconds=40 + n % 200)
            created_ts, done_ts = h.format_ts(created), h.format_ts(done)
            instance_id = f"bench-{n:07d}"
            execution_id = uuid.uuid4().hex
            name = NAMES[n % len(NAMES)]
            city_input = json.dumps(CITIES[n % len(CITIES)])
            new = queries.NewInstance(instance_id, execution_id, name, city_input, h.to_us(created))
            start = queries.NewMessage(instance_id, execution_id, "event", {}, h.to_us(created))
            queries.create_instance(conn, new, start)
            events = [h.orchestrator_started(created_ts)]
            events.append(h.execution_started(created_ts, name, city_input, instance_id, execution_id))
            results = []
            tasks = CITIES if n % 4 == 1 else CITIES[:1]
            for task_id, city in enumerate(tasks):
                events.append(h.task_scheduled(created_ts, task_id, "say_hello", json.dumps(city)))
            events.append(h.orchestrator_completed(created_ts))
            events.append(h.orchestrator_started(done_ts))
            for task_id, city in enumerate(tasks):
                results.append(f"Hello {city}!")
                events.append(h.task_completed(done_ts, task_id, json.dumps(results[-1])))
            output = json.dumps(results)
            events.append(h.execution_completed(done_ts, 1, output))
            events.append(h.orchestrator_completed(done_ts))
            update = queries.InstanceUpdate(
                execution_id=execution_id,
                status=RuntimeStatus.COMPLETED,
                output=output,
                custom_status=None,
                updated_us=h.to_us(done),
                completed_us=h.to_us(done),
                failure_message=None,
                replay_state=None,
                input=city_input,
            )
            commit = queries.EpisodeCommit(instance_id, history_chunk=events, drop_inbox=True, update=update)
            queries.commit_episode(conn, commit)

    return write


async def fill_via_store(data_dir: Path, task_hub: str, count: int, span_hours: float) -> None:
    """Write `count` completed instances spread over the last `span_hours`, BATCH per write."""
    store = SqliteStore.open(data_dir, task_hub)
    base = datetime.now(UTC) - timedelta(hours=span_hours)
    spacing_us = max(1, int(span_hours * 3600 * 1_000_000 / max(count, 1)))
    started = time.perf_counter()
    try:
        done = 0
        # Several writes in flight so the writer thread can group them into one transaction.
        while done < count:
            writes: list[Awaitable[None]] = []
            for _ in range(8):
                if done >= count:
                    break
                size = min(BATCH, count - done)
                writes.append(store.write(_instance_writes(done, size, base, spacing_us)))
                done += size
            await asyncio.gather(*writes)
            print(f"\r  {done:,}/{count:,} instances", end="", flush=True)
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    print(f"\nmode=store: {count:,} instances in {elapsed:.1f} s ({rate:,.0f}/s), transactions={store.transactions}")


async def fill_via_engine(data_dir: Path, task_hub: str, count: int) -> None:
    """Start `count` real `quick` orchestrations through the engine and wait for all of them."""
    from tests.support.engines import start_test_engine, stop_test_engine

    engine = await start_test_engine("dashboard_app", data_dir, EngineOptions(task_hub))
    started = time.perf_counter()
    try:
        ids = []
        for n in range(count):
            ids.append(await engine.start_orchestration("quick", f"bench-e-{n:07d}", json.dumps(n)))
            if n % 1000 == 0:
                print(f"\r  started {n:,}/{count:,}", end="", flush=True)
        for n, instance_id in enumerate(ids):
            record = await engine.wait_for_instance(instance_id, 600.0)
            if record is None or not record.runtime_status.is_terminal:
                raise RuntimeError(f"{instance_id} did not finish")
            if n % 1000 == 0:
                print(f"\r  finished {n:,}/{count:,}  ", end="", flush=True)
    finally:
        await stop_test_engine(engine)
    elapsed = time.perf_counter() - started
    print(f"\nmode=engine: {count:,} instances in {elapsed:.1f} s ({count / elapsed:,.0f}/s)")


def main() -> None:
    """Parse arguments and fill the hub."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".bench" / "dashboard-hub")
    parser.add_argument("--task-hub", default="BenchHub")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--mode", choices=("store", "engine"), default="store")
    parser.add_argument("--span-hours", type=float, default=24.0, help="spread creation times over this period")
    args = parser.parse_args()
    print(f"filling {args.data_dir} (task hub {args.task_hub}) with {args.count:,} completed instances")
    if args.mode == "store":
        asyncio.run(fill_via_store(args.data_dir, args.task_hub, args.count, args.span_hours))
    else:
        asyncio.run(fill_via_engine(args.data_dir, args.task_hub, args.count))


if __name__ == "__main__":
    main()
