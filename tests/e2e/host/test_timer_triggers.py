"""Timer triggers end to end: NCRONTAB with seconds, runOnStartup, no overlapping runs, TimeSpan from a setting."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost
from tests.support.storage import drain_json, queue_client, unique_name
from tests.support.waiting import wait_until

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def test_timers_run_on_schedule_without_overlap(azurite: Azurite, tmp_path: Path):
    names = {"TIMER_OUT": unique_name("timer-out-"), "SPAN_OUT": unique_name("span-out-")}
    started = time.time()
    with running_devhost(APPS / "timer_app", azurite, data_dir=tmp_path, extra_env=names) as host:
        slow = queue_client(azurite.connection_string, names["TIMER_OUT"])
        span = queue_client(azurite.connection_string, names["SPAN_OUT"])
        slow_runs: list[dict[str, float]] = []
        span_runs: list[dict[str, str]] = []

        def enough() -> bool:
            slow_runs.extend(drain_json(slow))
            span_runs.extend(drain_json(span))
            return len(slow_runs) >= 3 and len(span_runs) >= 2

        wait_until(enough, 20, "three slow_tick runs and two span_tick runs")
        output = host.output()
    assert "slow_tick: timerTrigger" in output and "span_tick: timerTrigger" in output
    slow_runs.sort(key=lambda run: run["start"])
    # runOnStartup: the first run begins right after the host started, not on a later tick.
    assert slow_runs[0]["start"] - started < 10
    for earlier, later in itertools.pairwise(slow_runs):
        assert later["start"] >= earlier["end"], "two runs of one timer overlapped"
    assert all(run["end"] - run["start"] >= 1.5 for run in slow_runs)
    # A 1 s TimeSpan schedule fires about once a second.
    assert all(run["next"] for run in span_runs)
