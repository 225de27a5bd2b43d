"""A worker killed for functionTimeout takes no new requests from the moment it is killed: what comes next
waits for its replacement (the e2e timeout test once lost an HTTP call routed to it in between)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from devhost.workers.pool import FunctionTimeout, PoolSettings, WorkerPool
from devhost.workers.process import WorkerSpec
from tests.support.apps import APPS_DIR


async def test_requests_after_a_timeout_go_to_the_replacement_worker() -> None:
    pool = WorkerPool(WorkerSpec(APPS_DIR / "fidelity_app"), PoolSettings(function_timeout=timedelta(seconds=1)))
    await pool.start()
    try:
        [spinning_pid] = pool.pids()
        with pytest.raises(FunctionTimeout):
            await pool.activity("spinning_activity", "inv-1", "instance-1", json.dumps("k"))
        # No await since the timeout: the killed worker is out of rotation already.
        assert spinning_pid not in pool.pids()
        # Sent at once, this request waits for the new worker instead of dying with the old one.
        assert json.loads(await pool.activity("echo", "inv-2", "instance-2", json.dumps("after"))) == "after"
        assert pool.pids() and spinning_pid not in pool.pids()
    finally:
        await pool.stop()
