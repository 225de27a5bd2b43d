"""Timer schedules: NCRONTAB with seconds first, TimeSpans, and collapsing missed occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.errors import ConfigError
from devhost.triggers.timer import parse_schedule

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_ncrontab_seconds_field_comes_first():
    every_five_minutes = parse_schedule("0 */5 * * * *")
    assert every_five_minutes.next_after(T0) == T0 + timedelta(minutes=5)
    every_second = parse_schedule("*/1 * * * * *")
    assert every_second.next_after(T0) == T0 + timedelta(seconds=1)
    at_half_past_nine_weekdays = parse_schedule("0 30 9 * * 1-5")
    assert at_half_past_nine_weekdays.next_after(T0) == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


def test_timespan_schedule():
    assert parse_schedule("00:00:10").next_after(T0) == T0 + timedelta(seconds=10)
    assert parse_schedule("1.00:00:00").next_after(T0) == T0 + timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("*/5 * * * *", "expected six NCRONTAB fields"),
        ("0 */5 * * * * *", "expected six NCRONTAB fields"),
        ("0 99 * * * *", "not a valid NCRONTAB"),
        ("00:00:00", "longer than zero"),
    ],
)
def test_invalid_schedules(text: str, fragment: str):
    with pytest.raises(ConfigError) as error:
        parse_schedule(text)
    assert fragment in str(error.value)
