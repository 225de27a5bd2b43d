"""The task hub's clock: real UTC time, plus a forward offset when the host runs with virtual time.

Every timestamp the engine writes (OrchestratorStarted, hence ``context.current_utc_datetime``) and every
due time it compares (durable timers are inbox messages visible from their FireAt) reads this clock, so
moving it forward makes due timers fire at once and orchestrations see the new time. Azure has nothing
like it: it exists for tests only (``DEVHOST_VIRTUAL_TIME``, set by the pytest plugin), and without it the
offset stays 0 and cannot be changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devhost.errors import InvalidRequestError

#: The environment variable that starts a host with virtual time (set by devhost's pytest plugin).
VIRTUAL_TIME_SETTING = "DEVHOST_VIRTUAL_TIME"
#: The longest single advance accepted (a typo of a few zeros should not end the world's calendar).
MAX_ADVANCE = timedelta(days=3650)


def virtual_time_enabled(settings: dict[str, str]) -> bool:
    """True when DEVHOST_VIRTUAL_TIME is set to 1/true/yes."""
    return settings.get(VIRTUAL_TIME_SETTING, "").strip().lower() in ("1", "true", "yes")


class TaskHubClock:
    """UTC now plus an offset that only ever grows (see module docstring)."""

    def __init__(self, offset_us: int = 0) -> None:
        self.offset_us = offset_us

    def now(self) -> datetime:
        """The task hub's current time as an aware UTC datetime."""
        if self.offset_us:
            return datetime.now(UTC) + timedelta(microseconds=self.offset_us)
        return datetime.now(UTC)

    def advance(self, by: timedelta) -> None:
        """Move the clock forward by `by` (InvalidRequestError for a negative or absurd amount)."""
        if by < timedelta(0):
            raise InvalidRequestError(f"time only moves forward: cannot advance by {by.total_seconds():g} seconds")
        if by > MAX_ADVANCE:
            raise InvalidRequestError(
                f"advance by at most {MAX_ADVANCE.days} days at once, not {by.total_seconds():g} seconds"
            )
        self.offset_us += by // timedelta(microseconds=1)
