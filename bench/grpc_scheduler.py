"""The durabletask SDK's worker against devhost's scheduler endpoint (persisted), beside the same worker against
durabletask's in-memory backend (bench/peer_durabletask.py, not persisted).

Runs in its own process (``python -m bench.grpc_scheduler --sizes JSON --port N``): starts ``devhost scheduler``
on a fresh data directory, runs W1-W4 with the peer's orchestrators, client and worker, and prints one
BENCH-RESULT line. Completion times are the endpoint's ``last_updated_at`` of each instance, as for the peer.

    .venv/bin/python -m bench.grpc_scheduler --port 50070 --sizes '{"w1_orchestrations": 20, ...}'
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit, runner_arguments
from bench.peer_durabletask import run_with_worker
from tests.support.ports import free_ports

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 30.0
#: The issue's goal: devhost's endpoint at least as fast as the in-memory backend on these workloads.
RATIO_GOAL = 1.0
RATIO_GOAL_IDS = ("W1", "W3-1000", "W4")
WORKLOADS = ("W1", "W2", "W3-5", "W3-1000", "W3-10000", "W4")


def _start_scheduler(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "devhost", "scheduler", "--port", str(port),
        "--dashboard-port", str(free_ports(1, avoid=(port,))[0]), "--data-dir", str(data_dir), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devhost scheduler exited: {process.stderr.read().decode() if process.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"devhost scheduler did not listen on {port} within {STARTUP_TIMEOUT_S} s")


def main() -> None:
    """Start the endpoint and a worker, run the workloads, print the result line."""
    sizes, port = runner_arguments()
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as data_dir:
        scheduler = _start_scheduler(port, Path(data_dir))
        try:
            results = run_with_worker(f"127.0.0.1:{port}", sizes)
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=30)
    emit(results)


def rows(grpc: dict[str, Any], peer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per workload: the endpoint's rate beside the in-memory backend's, and the ratio."""
    out = []
    for workload in WORKLOADS:
        mine, theirs = grpc.get(workload), peer.get(workload)
        if mine is None:
            continue
        ratio = round(mine["rate"] / theirs["rate"], 2) if theirs and theirs["rate"] else None
        row: dict[str, Any] = {
            "id": workload,
            "devhost_grpc": mine["rate"],
            "inmemory": theirs["rate"] if theirs else None,
            "ratio": ratio,
            "wall_s": mine["wall_s"],
            "inmemory_wall_s": theirs["wall_s"] if theirs else None,
        }
        if workload in RATIO_GOAL_IDS:
            row["goal"] = f"ratio >= {RATIO_GOAL}"
            row["met"] = ratio is not None and ratio >= RATIO_GOAL
        out.append(row)
    return out


def table(table_rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""

    def fmt(value: Any, digits: int = 1) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)

    lines = [
        "| id | devhost endpoint (persisted) | in-memory backend | ratio | wall s (devhost / in-memory) | goal met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in table_rows:
        lines.append(
            f"| {row['id']} | {fmt(row['devhost_grpc'])} | {fmt(row['inmemory'])} | {fmt(row['ratio'], 2)} | "
            f"{fmt(row['wall_s'], 2)} / {fmt(row['inmemory_wall_s'], 2)} | {fmt(row.get('met'))} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
