"""FUNCTIONS_WORKER_PROCESS_COUNT worker processes, each with its own module state, none of them the host."""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import APP, http
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

REQUESTS = 40


def _whoami(host: DevHost) -> tuple[int, int]:
    status, text = http("GET", f"{host.base_url}/api/whoami")
    assert status == 200, (status, text)
    answer = json.loads(text)
    return int(answer["pid"]), int(answer["count"])


def test_two_worker_processes_keep_their_own_module_state(azurite: Azurite, tmp_path: Path):
    with running_devhost(APP, azurite, data_dir=tmp_path, extra_env={"FUNCTIONS_WORKER_PROCESS_COUNT": "2"}) as host:
        seen: list[tuple[int, int]] = []

        # The second worker may come up a little after the first (Azure staggers their starts): wait until
        # both have answered. The host spreads invocations over its workers (Azure: round-robin).
        def both_workers_answered() -> bool:
            seen.append(_whoami(host))
            return len({pid for pid, _ in seen}) >= 2

        wait_until(both_workers_answered, 30, "requests to reach two worker processes")
        # Sequential requests: each answer was produced after the previous one, per process too.
        seen.extend(_whoami(host) for _ in range(REQUESTS))

        counts_by_pid: dict[int, list[int]] = defaultdict(list)
        for pid, count in seen:
            counts_by_pid[pid].append(count)
        assert len(counts_by_pid) == 2, dict(counts_by_pid)
        assert host.process.pid not in counts_by_pid, "a function ran in the host process"
        for pid, counts in counts_by_pid.items():
            assert all(a < b for a, b in pairwise(counts)), (pid, counts)
