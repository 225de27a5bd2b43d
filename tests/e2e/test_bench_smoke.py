"""The benchmark runs end to end at tiny sizes and writes the documented JSON shape (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bench, pytest.mark.azurite, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_IDS = ["W1", "W2", "W3-5", "W3-1000", "W3-10000", "W4", "W5"]


def test_bench_smoke_writes_the_results_document(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    document = json.loads(out.read_text())
    assert set(document) >= {"date", "machine", "workloads"}
    assert document["smoke"] is True
    rows = {row["id"]: row for row in document["workloads"]}
    assert [i for i in rows if i in WORKLOAD_IDS] == WORKLOAD_IDS
    assert document["peer_dbos"] == "dbos-sqlite"
    for row in rows.values():
        assert set(row) >= {"id", "description", "metric", "ours", "peer", "ratio", "peer_dbos", "ratio_dbos", "wall_s"}
    for workload_id in WORKLOAD_IDS[:-1]:
        row = rows[workload_id]
        assert row["ours"] > 0 and row["peer"] > 0 and row["peer_dbos"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["peer"], rel=0.02)
        assert row["ratio_dbos"] == pytest.approx(row["ours"] / row["peer_dbos"], rel=0.02)
        assert row["wall_s"] > 0 and row["peer_dbos_wall_s"] > 0
    assert rows["W1"]["peer_dbos_p50_s"] > 0 and rows["W4"]["peer_dbos_p95_s"] > 0
    # W1 and W4: cores used by the host, its worker processes and Azurite, printed under the table.
    for workload_id in ("W1", "W4"):
        row = rows[workload_id]
        assert set(row["cores"]) == {"host", "workers", "azurite"}
        assert all(value >= 0 for value in row["cores"].values())
        assert row["cores_worker_processes"] >= 1 and row["cores_window_s"] > 0
        assert row["machine_busy_cores"] > 0  # the host at least was working
        assert f"* {workload_id}: cores: host " in completed.stdout
    assert "workers " in completed.stdout and "(1 process), azurite " in completed.stdout
    assert "; machine busy " in completed.stdout
    w5 = rows["W5"]
    assert w5["peer"] is None and w5["peer_dbos"] is None
    # W5's goal is on sent-to-completed; sent-to-Running stays as information (it comes first).
    assert w5["goal"] == "sent-to-completed p50 < 1 s and p95 < 5 s, all recorded < 12 s"
    assert isinstance(w5["met"], bool)
    for row in (w5, rows["W5-cold"], rows["W5-paced"]):
        assert 0 < row["running_p50_s"] <= row["p50_s"] and 0 < row["running_p95_s"] <= row["p95_s"]
        assert row["wall_s"] > 0
        assert set(row["cores_while_sending"]) == {"host", "azurite", "sender"}
    assert rows["W5-paced"]["send_rate"] > 0
    assert "* W5-paced: sent " in completed.stdout and "sent to Running p50 " in completed.stdout
    floor = rows["W5-floor"]
    assert floor["p50_s"] > 0 and floor["send_rate"] > 0 and floor["ours"] > 0
    assert set(floor["cores_while_sending"]) == {"consumer", "azurite", "sender"}
    assert set(document["raw"]) >= {"ours", "durabletask-inmemory", "dbos-sqlite"}
    assert rows["R-rss-stored"]["ours"] > 0
    assert rows["R-disk-chaining"]["ours"] > 0
    # The replay-cost micro-benchmark: one episode at 10, 100 and 1,000 history events, in process and in a worker.
    replay = document["replay_cost"]
    assert [row["events"] for row in replay["rows"]] == [10, 100, 1000]
    for row in replay["rows"]:
        assert row["sdk_ms"] > 0 and row["sdk_parser_ms"] > 0
        assert row["worker_whole_ms"] > 0 and row["worker_kept_ms"] > 0
        assert row["ratio"] == pytest.approx(row["worker_kept_ms"] / row["sdk_ms"], rel=0.05, abs=0.01)
        assert row["steps"] == (row["events"] - 2) // 2 and row["context_bytes"] > 0
    assert "O(N^2)" in replay["note"]
    trip = replay["round_trip"]
    assert trip["calls"] > 0 and trip["sequential_ms"] > 0 and trip["concurrent_ms"] > 0
    assert "Channel round trip" in completed.stdout
    assert "| history events | steps |" in completed.stdout and "O(N^2)" in completed.stdout
    # The durabletask worker on devhost's scheduler endpoint beside the same worker on the in-memory backend.
    grpc_rows = {row["id"]: row for row in document["grpc_scheduler"]}
    assert list(grpc_rows) == WORKLOAD_IDS[:-1]
    for row in grpc_rows.values():
        assert row["devhost_grpc"] > 0 and row["inmemory"] > 0
        assert row["ratio"] == pytest.approx(row["devhost_grpc"] / row["inmemory"], rel=0.02)
    assert "| id | devhost endpoint (persisted) | in-memory backend |" in completed.stdout
    # The printed table names every workload and has the DBOS columns.
    assert "| dbos | ratio dbos |" in completed.stdout
    for workload_id in WORKLOAD_IDS:
        assert f"| {workload_id} |" in completed.stdout
    # Blob triggers: upload-to-invocation idle and while a big container is scanned, an HTTP ping meanwhile.
    blob = document["blob_trigger"]
    assert blob["big_container_blobs"] > 0 and blob["samples"] > 0 and blob["idle_goal_s"] == 2.0
    for phase in ("idle", "scanning"):
        assert 0 < blob[phase]["new_blob_s"]["p50"] <= blob[phase]["new_blob_s"]["max"]
        assert 0 < blob[phase]["ping_ms"]["p50"] <= blob[phase]["ping_ms"]["max"] and blob[phase]["pings"] > 0
    assert blob["scanning"]["scan"]["blobs"] >= blob["big_container_blobs"]
    assert "goal: a new blob fires within 2 s on an idle host: " in completed.stdout
