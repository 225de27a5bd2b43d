"""IntakeBacklog: which fetches are a backlog, how long activities wait behind one, and its setting."""

from __future__ import annotations

import pytest

from devhost.durable.intake import MAX_WAIT_SETTING, IntakeBacklog, intake_from_settings
from devhost.errors import ConfigError


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("received", "batch_size", "backlog"),
    [(1, 32, False), (7, 32, False), (8, 32, True), (32, 32, True), (3, 8, False), (4, 8, True), (1, 1, False)],
)
def test_a_backlog_is_a_quarter_batch_and_at_least_four_messages(received: int, batch_size: int, backlog: bool):
    assert IntakeBacklog.is_backlog(received, batch_size) is backlog


def test_without_a_backlog_activities_start_at_once():
    clock = Clock()
    intake = IntakeBacklog(hold_s=1.0, max_wait_s=10.0, clock=clock)
    assert intake.wait_s(clock.now) == 0
    intake.fetched("q", 3, 32)  # the trigger keeps up: a few messages per fetch
    assert intake.wait_s(clock.now) == 0


def test_each_backlog_fetch_extends_the_hold_up_to_the_longest_wait():
    clock = Clock()
    intake = IntakeBacklog(hold_s=1.0, max_wait_s=10.0, clock=clock)
    queued_at = clock.now
    intake.fetched("q", 32, 32)
    assert intake.wait_s(queued_at) == pytest.approx(1.0)
    clock.now += 0.6
    assert intake.wait_s(queued_at) == pytest.approx(0.4)
    intake.fetched("q", 12, 32)
    assert intake.wait_s(queued_at) == pytest.approx(1.0)
    # A flood that never lets up: the activity still starts max_wait_s after it was queued.
    while clock.now < queued_at + 10.0:
        clock.now += 0.5
        intake.fetched("q", 32, 32)
    assert intake.wait_s(queued_at) == pytest.approx(0.0)
    assert intake.wait_s(clock.now) == pytest.approx(1.0)  # a newer activity still waits
    clock.now += 1.0
    assert intake.wait_s(clock.now - 1.0) == 0  # the hold ran out


def test_a_backlog_is_logged_once_per_hold(caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", logger="devhost.durable.intake")
    clock = Clock()
    intake = IntakeBacklog(hold_s=1.0, max_wait_s=10.0, clock=clock)
    for _ in range(5):
        intake.fetched("start-requests", 16, 32)
        clock.now += 0.5
    clock.now += 2.0
    intake.fetched("start-requests", 9, 32)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Queue 'start-requests' has a backlog (16 messages in one fetch): activities wait up to 10 s while its "
        "messages are started first",
        "Queue 'start-requests' has a backlog (9 messages in one fetch): activities wait up to 10 s while its "
        "messages are started first",
    ]


def test_the_setting_sets_the_longest_wait_and_zero_turns_the_hold_off():
    assert intake_from_settings({}).max_wait_s == IntakeBacklog().max_wait_s
    assert intake_from_settings({MAX_WAIT_SETTING: " 2.5 "}).max_wait_s == 2.5
    off = intake_from_settings({MAX_WAIT_SETTING: "0"})
    off.fetched("q", 32, 32)
    assert off.wait_s(off.clock()) == 0


@pytest.mark.parametrize("text", ["soon", "-1", "301", "nan", "inf"])
def test_a_bad_setting_says_what_is_allowed(text: str):
    with pytest.raises(ConfigError) as raised:
        intake_from_settings({MAX_WAIT_SETTING: text})
    assert str(raised.value) == (
        f"{MAX_WAIT_SETTING} must be a number of seconds from 0 (no hold) to 300, got {text!r}"
    )
