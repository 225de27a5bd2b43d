"""Storage outages seen by a polling trigger, logged once per interval instead of once per poll."""

from __future__ import annotations

import logging
import time

#: A storage outage is reported at most once per this many seconds per queue or container.
OUTAGE_LOG_INTERVAL_S = 30.0


class OutageLog:
    """One polled resource's storage errors: a warning at most every OUTAGE_LOG_INTERVAL_S, and one line
    when it recovers.

    The interval also spans recoveries: storage that flaps while it comes back (Azurite restarting)
    yields one "unavailable" line and one "reachable again" line, not a pair per flap.
    """

    def __init__(self, log: logging.Logger, subject: str, retrying: str) -> None:
        #: The poller's logger, "Queue 'q'" or "Blob container 'c'", and what it does meanwhile.
        self.log = log
        self.subject = subject
        self.retrying = retrying
        self.failing_since: float | None = None
        self.last_logged = -OUTAGE_LOG_INTERVAL_S
        #: Whether the current failure period was reported (only then is its end reported).
        self.reported = False

    def failed(self, exc: BaseException) -> None:
        """A poll failed with a storage error."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        if now - self.last_logged >= OUTAGE_LOG_INTERVAL_S:
            self.last_logged = now
            self.reported = True
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            self.log.warning(
                "%s: storage unavailable (%s: %s); %s", self.subject, type(exc).__name__, first_line, self.retrying
            )

    def succeeded(self) -> None:
        """A poll succeeded."""
        if self.failing_since is not None:
            if self.reported:
                self.log.info(
                    "%s: storage reachable again after %.0fs", self.subject, time.monotonic() - self.failing_since
                )
            self.failing_since = None
            self.reported = False
