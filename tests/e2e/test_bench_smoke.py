"""The benchmark runs end to end at tiny sizes and writes the documented JSON shape (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
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
    assert rows["W5"]["peer"] is None and rows["W5"]["peer_dbos"] is None and rows["W5"]["p50_s"] > 0
    assert rows["W5-paced"]["p50_s"] > 0 and rows["W5-paced"]["send_rate"] > 0
    assert rows["W5-cold"]["p50_s"] > 0 and rows["W5-cold"]["wall_s"] > 0
    for w5 in (rows["W5"], rows["W5-cold"], rows["W5-paced"]):
        assert set(w5["cores_while_sending"]) == {"host", "azurite", "sender"}
    assert "* W5-paced: sent " in completed.stdout
    floor = rows["W5-floor"]
    assert floor["p50_s"] > 0 and floor["send_rate"] > 0 and floor["ours"] > 0
    assert set(floor["cores_while_sending"]) == {"consumer", "azurite", "sender"}
    assert set(document["raw"]) >= {"ours", "durabletask-inmemory", "dbos-sqlite"}
    assert rows["R-rss-stored"]["ours"] > 0
    assert rows["R-disk-chaining"]["ours"] > 0
    # The printed table names every workload and has the DBOS columns.
    assert "| dbos | ratio dbos |" in completed.stdout
    for workload_id in WORKLOAD_IDS:
        assert f"| {workload_id} |" in completed.stdout
