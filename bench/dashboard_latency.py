"""Latency of the dashboard's instance list API on a big task hub (fill it first with bench/fill_store.py).

Opens the hub with the real DurableEngine, serves the real dashboard app on a free loopback port and
times HTTP requests from a client in the same process. Goal: p95 < 100 ms for list pages.

    .venv/bin/python bench/fill_store.py --data-dir .bench/dashboard-hub --count 100000
    .venv/bin/python bench/dashboard_latency.py --data-dir .bench/dashboard-hub
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devhost.dashboard.app import DashboardSettings, create_dashboard_app  # noqa: E402
from devhost.durable.models import EngineOptions  # noqa: E402
from tests.support.engines import start_test_engine, stop_test_engine  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

GOAL_P95_MS = 100.0


async def _open_engine(data_dir: Path, task_hub: str) -> Any:

    return await start_test_engine("dashboard_app", data_dir, EngineOptions(task_hub))


async def _time(session: aiohttp.ClientSession, url: str, params: dict[str, str], runs: int) -> list[float]:
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        async with session.get(url, params=params) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} {params} -> {response.status}: {body[:200]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def run(data_dir: Path, task_hub: str, runs: int) -> int:
    """Time each scenario; returns 1 when a list scenario misses the goal."""
    engine = await _open_engine(data_dir, task_hub)
    engine.statistics.cache_s = 0.0  # uncached: the worst case of the overview
    app = create_dashboard_app(engine, settings=DashboardSettings(task_hub=task_hub), stats=engine.statistics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    failed = 0
    try:
        async with aiohttp.ClientSession() as session:
            url = base + "/api/instances"
            async with session.get(url, params={"pageSize": "500", "sort": "oldest"}) as response:
                first = await response.json()
            if not first["instances"]:
                print(f"{data_dir} has no instances: run bench/fill_store.py first")
                return 2
            middle = first["instances"][len(first["instances"]) // 2]["createdTime"]
            # A token 40 pages deep, to show keyset paging does not slow down with depth.
            token = None
            for _ in range(40):
                async with session.get(url, params={"continuationToken": token} if token else {}) as response:
                    token = (await response.json())["continuationToken"]
            scenarios: list[tuple[str, str, dict[str, str]]] = [
                ("first page (newest, 50)", url, {}),
                ("first page, oldest first", url, {"sort": "oldest"}),
                ("status=Completed & name", url, {"status": "Completed", "name": "fan_out_cities"}),
                ("status=Running (none)", url, {"status": "Running"}),
                ("id prefix", url, {"prefix": "bench-00500"}),
                ("created range", url, {"createdFrom": middle, "pageSize": "100"}),
                ("hide sub-orchestrations", url, {"hideSub": "true"}),
                ("page 41 (token)", url, {"continuationToken": token or ""}),
                ("page of 500", url, {"pageSize": "500"}),
                ("overview (uncached sample)", base + "/api/overview", {}),
            ]
            print(f"{'scenario':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  goal p95 < {GOAL_P95_MS:g} ms")
            for label, target, params in scenarios:
                await _time(session, target, params, 3)  # warm-up (SQLite page cache, connections)
                timings = await _time(session, target, params, runs if "overview" not in label else max(5, runs // 10))
                p50, p95 = statistics.median(timings), _pct(timings, 95)
                is_list = target == url
                verdict = ("ok" if p95 < GOAL_P95_MS else "SLOW") if is_list else "(info)"
                failed += is_list and p95 >= GOAL_P95_MS
                print(f"{label:32} {p50:8.1f} {p95:8.1f} {max(timings):8.1f}  {verdict}")
    finally:
        await runner.cleanup()
        await stop_test_engine(engine)
    return 1 if failed else 0


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".bench" / "dashboard-hub")
    parser.add_argument("--task-hub", default="BenchHub")
    parser.add_argument("--runs", type=int, default=100, help="requests per scenario")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.data_dir, args.task_hub, args.runs)))


if __name__ == "__main__":
    main()
