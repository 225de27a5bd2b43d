"""Peer: DBOS Transact (Python) with its system database on SQLite, in a temporary directory.

Runs in its own process (``python -m bench.peer_dbos --sizes JSON``) and prints one BENCH-RESULT line,
like bench/peer_durabletask.py. Workflows are async; a fan-out starts its steps together with
``asyncio.gather`` inside one workflow (DBOS numbers each step when it is called, so the order is
deterministic and every step is checkpointed in the workflow's own operation_outputs). Completion times
are DBOS's own ``completed_at`` of each workflow (written in the transaction that records SUCCESS), start
times are taken by the client just before ``DBOS.start_workflow_async``. No Postgres, no Conductor, no
OTLP: nothing leaves the machine.

DBOS writes ``completed_at`` with SQLite's ``unixepoch('subsec')`` on Python >= 3.12 but with
``strftime('%s')`` (whole seconds) on 3.11, so a trigger rewrites it at millisecond precision in the same
transaction (``COMPLETED_AT_MS``): the figure DBOS itself records on a newer Python.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowStatusString

from bench.common import CHAIN_CITIES, Measurement, Sizes, cities, emit, measurement_from, runner_arguments
from bench.common import say_hello as greet

TIMEOUT_S = 300.0
#: Fan-outs above this many steps are measured at this size instead: 10,000 gathered steps took 82-118 s
#: here (each step is its own SQLite transaction through a pool of 20 connections; see bench/README.md),
#: more than the ~90 s budget for one workload. None: no cap.
W3_CAP: int | None = 5000
#: Fills workflow_status.completed_at with milliseconds (SQLite's 'now' has ms resolution) when DBOS marks a
#: workflow SUCCESS; the inner UPDATE does not touch `status`, so the trigger does not fire again.
COMPLETED_AT_MS = """
CREATE TRIGGER IF NOT EXISTS bench_completed_at_ms AFTER UPDATE OF status ON workflow_status
WHEN NEW.status = 'SUCCESS'
BEGIN
    UPDATE workflow_status
    SET completed_at = CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
    WHERE workflow_uuid = NEW.workflow_uuid;
END
"""


@DBOS.step()
async def say_hello(city: str) -> str:
    """The step."""
    return greet(city)


@DBOS.workflow()
async def chaining(names: list[str]) -> list[str]:
    """Greet the cities one after another."""
    return [await say_hello(city) for city in names]


@DBOS.workflow()
async def fan_out(names: list[str]) -> list[str]:
    """Greet the cities in parallel: all steps started together, then awaited together."""
    return list(await asyncio.gather(*(say_hello(city) for city in names)))


async def _run(workflow: Any, prefix: str, inputs: list[list[str]]) -> Measurement:
    sent: dict[str, float] = {}
    ids = [f"{prefix}-{n}" for n in range(len(inputs))]

    async def start(workflow_id: str, names: list[str]) -> Any:
        sent[workflow_id] = time.time()
        with SetWorkflowID(workflow_id):
            return await DBOS.start_workflow_async(workflow, names)

    handles = await asyncio.gather(*(start(i, names) for i, names in zip(ids, inputs, strict=True)))
    await asyncio.wait_for(asyncio.gather(*(handle.get_result() for handle in handles)), TIMEOUT_S)
    done: dict[str, float] = {}
    for workflow_id in ids:
        status = await DBOS.get_workflow_status_async(workflow_id)
        if status is None or status.status != WorkflowStatusString.SUCCESS.value or status.completed_at is None:
            raise RuntimeError(f"{workflow_id} did not complete: {status}")
        done[workflow_id] = status.completed_at / 1000
    return measurement_from(sent, done, len(ids))


async def run_all(sizes: Sizes) -> dict[str, Any]:
    """Every workload, in order, on one system database."""
    results: dict[str, Any] = {}
    await _run(chaining, "warmup", [CHAIN_CITIES])
    results["W1"] = (await _run(chaining, "w1", [CHAIN_CITIES] * sizes.w1_orchestrations)).to_dict()
    m = await _run(chaining, "w2", [cities(sizes.w2_activities)])
    m.count = sizes.w2_activities
    results["W2"] = m.to_dict()
    for size, label in zip(sizes.w3_fan_outs, ("W3-5", "W3-1000", "W3-10000"), strict=True):
        measured = min(size, W3_CAP) if W3_CAP is not None else size
        m = await _run(fan_out, label.lower(), [cities(measured)])
        m.count = measured
        if measured != size:
            m.extra["capped_from"] = size
        results[label] = m.to_dict()
    inputs = [cities(sizes.w4_cities)] * sizes.w4_orchestrations
    results["W4"] = (await _run(fan_out, "w4", inputs)).to_dict()
    return results


def database(directory: Path) -> Path:
    """The SQLite file of the system database."""
    return directory / "dbos.sqlite"


def add_completion_trigger(path: Path) -> None:
    """Install COMPLETED_AT_MS on the migrated system database (before any workflow runs)."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        with connection:
            connection.execute(COMPLETED_AT_MS)
    finally:
        connection.close()


def config(directory: Path) -> DBOSConfig:
    """DBOS on a SQLite system database in directory; no Conductor, no OTLP export, quiet logs."""
    return {
        "name": "bench-hello-cities",
        "system_database_url": f"sqlite:///{database(directory)}",
        "enable_otlp": False,
        "log_level": "WARNING",
        "application_version": "bench",
    }


def main() -> None:
    """Launch DBOS on a fresh SQLite file, run the workloads, print the result line."""
    sizes, _ = runner_arguments(needs_port=False)
    with tempfile.TemporaryDirectory(prefix="bench-dbos-") as directory:
        DBOS(config=config(Path(directory)))
        DBOS.launch()
        try:
            add_completion_trigger(database(Path(directory)))
            results = asyncio.run(run_all(sizes))
        finally:
            DBOS.destroy()
    emit(results)


if __name__ == "__main__":
    main()
