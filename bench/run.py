"""`make bench`: our durable engine and its peers side by side, in one run on this machine.

    .venv/bin/python -m bench.run            # full run (a few minutes), writes bench/results/latest.json
    .venv/bin/python -m bench.run --smoke    # tiny sizes, a few seconds (tests/e2e/test_bench_smoke.py)

Peers run one after the other, each in its own process, so they never share the CPU with each other;
see bench/README.md for the workloads, the goals and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.blob_trigger import table as blob_trigger_table  # noqa: E402
from bench.common import Sizes  # noqa: E402
from bench.grpc_scheduler import rows as grpc_scheduler_rows  # noqa: E402
from bench.grpc_scheduler import table as grpc_scheduler_table  # noqa: E402
from bench.ours import run_ours  # noqa: E402
from bench.replay_cost import RUNS as REPLAY_RUNS  # noqa: E402
from bench.replay_cost import SMOKE_RUNS as REPLAY_SMOKE_RUNS  # noqa: E402
from bench.replay_cost import table as replay_table  # noqa: E402
from tests.support.azurite import running_azurite  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

RESULTS = REPO / "bench" / "results" / "latest.json"
PEER = "durabletask-inmemory"
#: The second peer column (persisted, like ours): DBOS Transact on SQLite (bench/peer_dbos.py).
PEER_DBOS = "dbos-sqlite"
#: Goals from the issue: ratio against the in-memory peer for these workloads.
RATIO_GOAL = 2.0
RATIO_GOAL_IDS = ("W1", "W2", "W3-1000", "W4")
#: W5's goals: what a user waits for per message (sent to orchestration completed), and all 1,000 results
#: recorded in the results table, from the first send.
W5_P50_GOAL_S = 1.0
W5_P95_GOAL_S = 5.0
W5_RECORDED_GOAL_S = 12.0


def run_peer(module: str, sizes: Sizes) -> dict[str, Any]:
    """Run a peer's runner module in its own process and return its BENCH-RESULT."""
    command = [sys.executable, "-m", module, "--sizes", sizes.to_json(), "--port", str(free_port())]
    return _bench_result(module, command, timeout_s=900)


def run_replay_cost(smoke: bool) -> dict[str, Any]:
    """bench/replay_cost.py in its own process (the SDK patch it installs stays there); its JSON."""
    command = [sys.executable, str(REPO / "bench" / "replay_cost.py"), "--emit", "--runs"]
    command.append(str(REPLAY_SMOKE_RUNS if smoke else REPLAY_RUNS))
    return _bench_result("replay_cost", command, timeout_s=600)


def run_blob_trigger(smoke: bool) -> dict[str, Any]:
    """bench/blob_trigger.py (its own Azurite and host): new-blob latency idle and during a 10,000-blob scan."""
    command = [sys.executable, "-m", "bench.blob_trigger", "--emit", *(["--smoke"] if smoke else [])]
    return _bench_result("blob_trigger", command, timeout_s=900)


def _bench_result(label: str, command: list[str], timeout_s: float) -> dict[str, Any]:
    """Run command and return the JSON of its BENCH-RESULT line (RuntimeError with its stderr if none)."""
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH-RESULT "))
            return result
    raise RuntimeError(f"{label} exited {completed.returncode} without a result:\n{completed.stderr[-3000:]}")


def machine() -> str:
    """CPU model, cores and Python of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


_DESCRIPTIONS = {
    "W1": ("{n} chaining orchestrations (3 activities each) started together", "orchestrations/s"),
    "W2": ("one orchestration with {n} sequential activities", "activities/s"),
    "W3-5": ("fan-out/fan-in of {n} activities", "activities/s"),
    "W3-1000": ("fan-out/fan-in of {n} activities", "activities/s"),
    "W3-10000": ("fan-out/fan-in of {n} activities", "activities/s"),
    "W4": ("{n} fan-out orchestrations of 5 cities started together", "orchestrations/s"),
}


def _ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or not peer:
        return None
    return round(ours / peer, 2)


def _dbos_fields(mine: dict[str, Any], dbos: dict[str, Any] | None, latency: bool) -> dict[str, Any]:
    """The DBOS column of one workload row (None when DBOS was skipped or has no such workload)."""
    fields: dict[str, Any] = {
        "peer_dbos": dbos["rate"] if dbos else None,
        "ratio_dbos": _ratio(mine["rate"], dbos["rate"] if dbos else None),
        "peer_dbos_wall_s": dbos["wall_s"] if dbos else None,
    }
    if dbos and latency:
        fields.update(peer_dbos_p50_s=dbos["p50_s"], peer_dbos_p95_s=dbos["p95_s"])
    if dbos and dbos["count"] != mine["count"]:
        fields["peer_dbos_note"] = f"DBOS measured at {dbos['count']:,} (capped), rate per activity"
    return fields


def build_rows(
    ours: dict[str, Any], peer: dict[str, Any], peer_dbos: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The workloads table: one row per workload and resource figure (peer_dbos None or {}: DBOS skipped)."""
    rows: list[dict[str, Any]] = []
    dbos_results = peer_dbos or {}
    for workload_id, (description, metric) in _DESCRIPTIONS.items():
        mine, theirs = ours[workload_id], peer.get(workload_id)
        row: dict[str, Any] = {
            "id": workload_id,
            "description": description.format(n=mine["count"]),
            "metric": metric,
            "ours": mine["rate"],
            "peer": theirs["rate"] if theirs else None,
            "ratio": _ratio(mine["rate"], theirs["rate"] if theirs else None),
            "wall_s": mine["wall_s"],
            "peer_wall_s": theirs["wall_s"] if theirs else None,
        }
        if workload_id in ("W1", "W4"):
            row.update(p50_s=mine["p50_s"], p95_s=mine["p95_s"])
            # Cores used by the host, its worker processes and Azurite while the workload ran (ours).
            row.update(
                cores=mine["cores"],
                cores_worker_processes=mine["cores_worker_processes"],
                cores_window_s=mine["cores_window_s"],
                machine_busy_cores=mine["machine_busy_cores"],
            )
            if theirs:
                row.update(peer_p50_s=theirs["p50_s"], peer_p95_s=theirs["p95_s"])
        row.update(_dbos_fields(mine, dbos_results.get(workload_id), workload_id in ("W1", "W4")))
        if workload_id in RATIO_GOAL_IDS:
            row["goal"] = f"ratio >= {RATIO_GOAL}"
            row["met"] = row["ratio"] is not None and row["ratio"] >= RATIO_GOAL
        if workload_id == "W3-10000":
            row["goal"] = "wall < 5 s"
            row["met"] = mine["wall_s"] < 5.0
        rows.append(row)
    w5, paced, cold = ours["W5"], ours["W5-paced"], ours["W5-cold"]
    description = (
        f"{w5['count']} producer.py queue messages through Azurite until all results are recorded, the queue "
        "trigger polling (woken by one untimed message first); p50/p95 are message sent to orchestration "
        "completed"
    )
    rows.append(
        {
            **_queue_row("W5", description, w5),
            "goal": (
                f"sent-to-completed p50 < {W5_P50_GOAL_S:g} s and p95 < {W5_P95_GOAL_S:g} s, "
                f"all recorded < {W5_RECORDED_GOAL_S:g} s"
            ),
            "met": w5["p50_s"] < W5_P50_GOAL_S and w5["p95_s"] < W5_P95_GOAL_S and w5["wall_s"] < W5_RECORDED_GOAL_S,
        }
    )
    description = (
        "W5 sent to a queue trigger idle since W1-W4 (no goal: the first messages also wait out the idle "
        "poll back-off, up to host.json maxPollingInterval)"
    )
    rows.append(_queue_row("W5-cold", description, cold))
    description = (
        f"W5 with {paced['count']} messages sent at {paced['paced_rate']:g}/s instead of as fast as "
        "Azurite takes them (no goal: the host's latency when the machine has CPU to spare)"
    )
    rows.append(_queue_row("W5-paced", description, paced))
    floor = ours["W5-floor"]
    description = (
        f"W5's sender and {floor['count']} messages, consumed by a process that only receives and deletes "
        "them (no goal: p50/p95 are sent-to-received, the part of W5's latency no host here can avoid)"
    )
    rows.append(_queue_row("W5-floor", description, floor))
    rows.append(
        {
            "id": "R-rss-w3",
            "description": "host RSS after W3-10000",
            "metric": "MB",
            "ours": ours["rss_after_w3_mb"],
            "peer": None,
            "ratio": None,
            "wall_s": None,
        }
    )
    if "fill" in ours:
        fill = ours["fill"]
        rows.append(
            {
                "id": "R-rss-stored",
                "description": f"host RSS with {fill['instances']:,} completed instances in the store",
                "metric": "MB",
                "ours": fill["rss_mb"],
                "peer": None,
                "ratio": None,
                "wall_s": fill["fill_s"],
                "goal": "< 200 MB",
                "met": fill["rss_mb"] < 200,
            }
        )
    for key, value in ours["disk"].items():
        label = key.removeprefix("bytes_per_").removesuffix("_instance").replace("_", " ")
        rows.append(
            {
                "id": f"R-disk-{label.replace(' ', '-')}",
                "description": f"bytes on disk per completed Hello Cities {label} instance",
                "metric": "bytes",
                "ours": value,
                "peer": None,
                "ratio": None,
                "wall_s": None,
            }
        )
    for row in rows[len(_DESCRIPTIONS) :]:
        # Ours-only rows: no peer has a queue trigger, a host process or this store.
        row.update(peer_dbos=None, ratio_dbos=None)
    return rows


def _queue_row(row_id: str, description: str, measured: dict[str, Any]) -> dict[str, Any]:
    """A row for a W5 run (ours only): messages/s until recorded (W5-floor: received); p50/p95 sent to
    completed (W5-floor: to received) and, for information, sent to Running; send rate and the cores used
    while sending."""
    row = {
        "id": row_id,
        "description": description,
        "metric": "messages/s",
        "ours": measured["rate"],
        "peer": None,
        "ratio": None,
        "wall_s": measured["wall_s"],
        "p50_s": measured["p50_s"],
        "p95_s": measured["p95_s"],
        "send_rate": measured["send_rate"],
        "cores_while_sending": measured["cores_while_sending"],
    }
    if "running_p50_s" in measured:
        row.update(running_p50_s=measured["running_p50_s"], running_p95_s=measured["running_p95_s"])
    return row


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (what is printed and pasted into bench/README.md)."""
    lines = [
        "| id | metric | ours | peer | ratio | dbos | ratio dbos | wall s (ours/peer/dbos) | p50 / p95 s (ours) "
        "| goal met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        wall = _fmt(row.get("wall_s"), 2)
        if row.get("peer_wall_s") is not None or row.get("peer_dbos_wall_s") is not None:
            wall += f" / {_fmt(row.get('peer_wall_s'), 2)} / {_fmt(row.get('peer_dbos_wall_s'), 2)}"
        dbos = _fmt(row.get("peer_dbos"))
        if "peer_dbos_note" in row:
            dbos += "*"
        latency = f"{_fmt(row['p50_s'], 3)} / {_fmt(row['p95_s'], 3)}" if "p50_s" in row else "-"
        met = _fmt(row["met"]) if "met" in row else "-"
        lines.append(
            f"| {row['id']} | {row['metric']} | {_fmt(row['ours'])} | {_fmt(row['peer'])} | "
            f"{_fmt(row['ratio'], 2)} | {dbos} | {_fmt(row.get('ratio_dbos'), 2)} | {wall} | {latency} | {met} |"
        )
    notes = [f"* {row['id']}, dbos: {row['peer_dbos_note']}" for row in rows if "peer_dbos_note" in row]
    for row in rows:
        if "cores" in row:
            notes.append(f"* {row['id']}: {cores_line(row)}")
    for row in rows:
        if "cores_while_sending" in row:
            cores = ", ".join(f"{name} {value:.2f}" for name, value in row["cores_while_sending"].items())
            running = ""
            if "running_p50_s" in row:
                running = (
                    f"; sent to Running p50 {row['running_p50_s']:.3f} / p95 {row['running_p95_s']:.3f} s (no goal)"
                )
            notes.append(
                f"* {row['id']}: sent {row['send_rate']:,.1f} messages/s; cores used while sending: {cores}{running}"
            )
    return "\n".join(lines + (["", *notes] if notes else []))


def cores_line(row: dict[str, Any]) -> str:
    """'cores: host 0.85, workers 0.55 (1 process), azurite 0.10, total 1.50; machine busy 1.62 of 2' for a
    W1/W4 row."""
    cores = row["cores"]
    processes = row["cores_worker_processes"]
    return (
        f"cores: host {cores['host']:.2f}, workers {cores['workers']:.2f} "
        f"({processes} process{'' if processes == 1 else 'es'}), azurite {cores['azurite']:.2f}, "
        f"total {sum(cores.values()):.2f}; machine busy {row['machine_busy_cores']:.2f} of {os.cpu_count()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the table, write the JSON; exit 0 even when goals are missed (it measures)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that everything runs")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--no-dbos", action="store_true", help="skip the DBOS-on-SQLite peer column")
    parser.add_argument(
        "--stored-instances", type=int, default=None, help="instances for the RSS figure (default 100,000)"
    )
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    fill = args.stored_instances if args.stored_instances is not None else (200 if args.smoke else 100_000)
    out: Path = args.out or (REPO / "bench" / "results" / ("smoke.json" if args.smoke else "latest.json"))
    started = time.monotonic()
    print(f"peer {PEER} ...", flush=True)
    peer = run_peer("bench.peer_durabletask", sizes)
    print("the same durabletask worker on devhost's scheduler endpoint (bench/grpc_scheduler.py) ...", flush=True)
    grpc_scheduler = grpc_scheduler_rows(run_peer("bench.grpc_scheduler", sizes), peer)
    peer_dbos: dict[str, Any] = {}
    if not args.no_dbos:
        print(f"peer {PEER_DBOS} ...", flush=True)
        peer_dbos = run_peer("bench.peer_dbos", sizes)
    print("ours (devhost, Hello Cities, SQLite) ...", flush=True)
    with running_azurite() as azurite:
        ours = asyncio.run(run_ours(azurite, sizes, fill_count=fill))
    print("replay cost of one episode (bench/replay_cost.py) ...", flush=True)
    replay_cost = run_replay_cost(args.smoke)
    print("blob trigger latency (bench/blob_trigger.py) ...", flush=True)
    blob_trigger = run_blob_trigger(args.smoke)
    rows = build_rows(ours, peer, peer_dbos)
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "smoke": args.smoke,
        "peer": PEER,
        "peer_dbos": None if args.no_dbos else PEER_DBOS,
        "duration_s": round(time.monotonic() - started, 1),
        "workloads": rows,
        "replay_cost": replay_cost,
        "blob_trigger": blob_trigger,
        "grpc_scheduler": grpc_scheduler,
        "raw": {"ours": ours, PEER: peer, **({} if args.no_dbos else {PEER_DBOS: peer_dbos})},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(f"{document['date']}  {document['machine']}  ({document['duration_s']} s)")
    print(table(rows))
    print("\nReplay cost of one orchestrator episode (chaining orchestrator, full replay):")
    print(replay_table(replay_cost))
    print("\nBlob trigger: upload to invocation, and an HTTP function's latency meanwhile (bench/blob_trigger.py):")
    print(blob_trigger_table(blob_trigger))
    print("\nThe durabletask worker on devhost's scheduler endpoint vs in-memory (bench/grpc_scheduler.py):")
    print(grpc_scheduler_table(grpc_scheduler))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
