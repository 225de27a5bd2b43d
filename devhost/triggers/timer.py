"""Timer triggers: six-field NCRONTAB (seconds first) or TimeSpan schedules, runOnStartup, never overlapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from devhost.app.index import IndexedFunction
from devhost.config import parse_timespan
from devhost.errors import AppLoadError, ConfigError
from devhost.triggers.invoke import InvocationFailed, Invoker, TriggerInput

log = logging.getLogger(__name__)

#: A run that starts this much after its scheduled time is reported as past due.
PAST_DUE_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class Schedule:
    """A parsed timer schedule: next_after(t) gives the first occurrence strictly after t."""

    text: str
    next_after: Callable[[datetime], datetime]


def schedule_timezone() -> tzinfo:
    """WEBSITE_TIME_ZONE (an IANA name) when set, else UTC, as in Azure."""
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"WEBSITE_TIME_ZONE={name!r} is not a known IANA time zone (e.g. Europe/Berlin)") from None


def parse_schedule(text: str, zone: tzinfo = UTC) -> Schedule:
    """Parse an NCRONTAB expression ("sec min hour day month weekday") or a TimeSpan ("hh:mm:ss")."""
    stripped = text.strip()
    fields = stripped.split()
    if len(fields) == 1 and ":" in stripped:
        interval = parse_timespan(stripped, f"schedule {text!r}")
        if interval <= timedelta(0):
            raise ConfigError(f"schedule {text!r}: a TimeSpan schedule must be longer than zero")
        return Schedule(stripped, lambda after: after + interval)
    if len(fields) != 6:
        raise ConfigError(
            f'schedule {text!r}: expected six NCRONTAB fields "{{second}} {{minute}} {{hour}} {{day}} {{month}} '
            f'{{day-of-week}}" (e.g. "0 */5 * * * *") or a TimeSpan "hh:mm:ss"; got {len(fields)} field(s)'
        )
    if not croniter.is_valid(stripped, second_at_beginning=True):
        raise ConfigError(f"schedule {text!r}: not a valid NCRONTAB expression")

    def next_after(after: datetime) -> datetime:
        local = after.astimezone(zone)
        following = croniter(stripped, local, second_at_beginning=True).get_next(datetime)
        assert isinstance(following, datetime)
        return following.astimezone(UTC)

    return Schedule(stripped, next_after)


def timer_schedule(function: IndexedFunction) -> Schedule:
    """The function's schedule (%SETTING% already resolved by the index); AppLoadError when invalid."""
    text = str(function.trigger.get("schedule"))
    try:
        return parse_schedule(text, schedule_timezone())
    except ConfigError as exc:
        raise AppLoadError(f"function {function.name!r}: {exc}") from None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def timer_request(past_due: bool, schedule_status: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The timerTrigger's data for the worker (it builds func.TimerRequest)."""
    return {"past_due": past_due, "schedule_status": schedule_status, "schedule": {"AdjustForDST": True}}


class TimerRunner:
    """Runs one timer function on its schedule; runs are sequential, so a timer never overlaps itself."""

    def __init__(
        self, function: IndexedFunction, invoker: Invoker, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.function = function
        self.invoker = invoker
        self.schedule = timer_schedule(function)
        self.run_on_startup = bool(function.trigger.get("runOnStartup"))
        self._now = clock or (lambda: datetime.now(UTC))
        self.last_run: datetime | None = None
        self.runs = 0

    async def run(self) -> None:
        """Wait for each occurrence and invoke; returns only when cancelled."""
        if self.run_on_startup:
            await self._fire(scheduled=self._now(), past_due=False)
        next_time = self.schedule.next_after(self._now())
        while True:
            delay = (next_time - self._now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            started = self._now()
            past_due = started - next_time > PAST_DUE_TOLERANCE
            await self._fire(scheduled=next_time, past_due=past_due)
            # Occurrences missed while the run was busy collapse into one past-due run, as in Functions.
            next_time = self._latest_missed(self.schedule.next_after(next_time))

    def _latest_missed(self, candidate: datetime) -> datetime:
        """candidate, or the last occurrence already passed if several were missed (fired once, past due)."""
        now = self._now()
        for _ in range(10_000):
            following = self.schedule.next_after(candidate)
            if following > now:
                return candidate
            candidate = following
        return self.schedule.next_after(now)

    async def _fire(self, scheduled: datetime, past_due: bool) -> None:
        upcoming = self.schedule.next_after(scheduled)
        status = {"Last": _iso(self.last_run), "Next": _iso(upcoming), "LastUpdated": _iso(self._now())}
        request = timer_request(past_due, status)
        trigger = TriggerInput(
            data=request,
            binding_data={},
            reason=f"Timer fired at {self._now().isoformat()}",
        )
        self.last_run = scheduled
        self.runs += 1
        with contextlib.suppress(InvocationFailed):  # already logged; the schedule goes on
            await self.invoker.invoke(self.function, trigger)
