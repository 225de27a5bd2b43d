"""Starts first: while a queue of orchestration starts backs up, new activity work waits a little.

Every part of this host shares one core (one GIL). When start requests pour into a queue faster than
the trigger takes them, the activities of orchestrations already running compete with it for that
core, the fetched batches grow, and each message waits for a whole batch: message-to-Running goes
from tens of milliseconds to several hundred. So while a queue trigger whose function has a durable
client (the host wires only those to this) shows a backlog, activity work items wait in their queue
(and in the store, so nothing is lost) until no fetch has shown one for ``hold_s``, and at most
``max_wait_s`` each. The orchestrations of a burst reach Running sooner and finish later; the burst as
a whole is done a little later, since less of its work overlaps the sending (bench/README.md, eighth
pass, has the numbers).

A backlog is a fetch that returns many messages at once: when the trigger keeps up, each fetch finds
the one or two messages that arrived since the last, whatever the rate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping

from devhost.errors import ConfigError

log = logging.getLogger("devhost.durable.intake")

#: How long one fetch showing a backlog holds activities back (the next such fetch extends it).
HOLD_S = 1.0
#: The longest an activity waits behind a backlog: under a flood that never lets up, running
#: orchestrations still advance, each activity at most this much later.
MAX_WAIT_S = 10.0
#: App setting overriding MAX_WAIT_S, in seconds (0 turns the hold off: activities start in arrival order).
MAX_WAIT_SETTING = "DEVHOST_BACKLOG_MAX_WAIT_SECONDS"
#: A fetch of at least this many messages, and at least a quarter of the batch size, is a backlog.
MIN_BACKLOG_MESSAGES = 4


def intake_from_settings(environ: Mapping[str, str] | None = None) -> IntakeBacklog:
    """The host's IntakeBacklog, its longest wait from DEVHOST_BACKLOG_MAX_WAIT_SECONDS (0 to 300) if set."""
    text = (os.environ if environ is None else environ).get(MAX_WAIT_SETTING, "").strip()
    if not text:
        return IntakeBacklog()
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 300:
        raise ConfigError(f"{MAX_WAIT_SETTING} must be a number of seconds from 0 (no hold) to 300, got {text!r}")
    return IntakeBacklog(max_wait_s=value)


class IntakeBacklog:
    """Shared by the queue triggers (which report their fetches) and the engine (which asks how long to wait)."""

    def __init__(
        self, hold_s: float = HOLD_S, max_wait_s: float = MAX_WAIT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.hold_s = hold_s
        self.max_wait_s = max_wait_s
        #: The time base of wait_s's queued_at (time.monotonic unless a test passes its own).
        self.clock = clock
        self._held_until = float("-inf")

    @staticmethod
    def is_backlog(received: int, batch_size: int) -> bool:
        """Whether a fetch of `received` messages, asking for up to `batch_size`, shows a backlog."""
        return received >= max(MIN_BACKLOG_MESSAGES, batch_size // 4)

    def fetched(self, queue_name: str, received: int, batch_size: int) -> None:
        """A queue trigger fetched `received` messages; a backlog holds activities for hold_s from now."""
        if self.max_wait_s <= 0 or not self.is_backlog(received, batch_size):
            return
        now = self.clock()
        if now >= self._held_until:
            log.info(
                "Queue '%s' has a backlog (%d messages in one fetch): activities wait up to %.0f s while its "
                "messages are started first",
                queue_name,
                received,
                self.max_wait_s,
            )
        self._held_until = now + self.hold_s

    def wait_s(self, queued_at: float) -> float:
        """How much longer an activity queued at `queued_at` (this clock's time) waits; 0 means run it now."""
        now = self.clock()
        release = min(self._held_until, queued_at + self.max_wait_s)
        return max(0.0, release - now)

    async def wait_turn(self, queued_at: float) -> None:
        """Wait until an activity queued at `queued_at` may start (re-checked: a new backlog extends the hold)."""
        wait_s = self.wait_s(queued_at)
        while wait_s > 0:
            await asyncio.sleep(wait_s)
            wait_s = self.wait_s(queued_at)
