"""Crash (kill -9 three times) and storage outage: every accepted request ends in exactly one completed
orchestration and one recorded result. The same scenarios run at scale with `make faults`."""

from __future__ import annotations

import re

import pytest

from tests.reliability.scenarios import OUTAGE_LINE, Report, crash_scenario, format_table, outage_scenario, rig

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow, pytest.mark.timeout(240)]
REQUESTS = 500


def _assert_nothing_lost(report: Report) -> None:
    print(format_table([report]))
    assert report.completed == report.requests, report
    assert report.lost == 0 and report.wrong_output == 0
    assert report.result_rows == report.requests  # exactly one new row per request
    assert report.duplicated_results == 0
    assert report.bad_results == []
    assert report.queue_left == 0 and report.poisoned == 0
    # At-least-once: every activity ran, and re-runs are bounded by what was in flight at each fault.
    assert report.activity_executions >= report.expected_activities
    assert report.re_executions <= 100 * max(1, len(report.restarts)), report


def test_sigkill_three_times_loses_and_doubles_nothing() -> None:
    with rig() as r:
        report = crash_scenario(r, REQUESTS, kills=3)
        _assert_nothing_lost(report)
        assert len(report.restarts) == 3
        assert all(restart.ready_s < 30 for restart in report.restarts)


def test_storage_outage_is_survived_and_logged_once_per_interval() -> None:
    with rig() as r:
        report = outage_scenario(r, REQUESTS, down_s=10)
        _assert_nothing_lost(report)
        host = r.host
        assert len(r.hosts) == 1 and host.process.poll() is None  # it kept running
        output = host.output()
        # Once per queue and interval (30 s), not once per poll: one line for the 10 s outage.
        assert 1 <= report.outage_log_lines <= 2, output[-4000:]
        assert re.search(r"storage reachable again after \d+s", output), output[-4000:]
        assert output.count(OUTAGE_LINE) <= 2
