"""Log lines shaped like the Functions host's, so `func start` users feel at home."""

from __future__ import annotations

import logging

#: Logger for per-invocation lines ("Executing ...", "Executed ...").
invocations = logging.getLogger("devhost.invocations")


def log_invocation_start(function_name: str, invocation_id: str, reason: str) -> None:
    """Log that a function is starting, with why (trigger kind and detail)."""
    invocations.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function_name, reason, invocation_id)


def log_invocation_end(
    function_name: str, invocation_id: str, duration_ms: float, error: BaseException | str | None = None
) -> None:
    """Log that a function finished: outcome, id and duration, plus the error when it failed."""
    if error is None:
        invocations.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", function_name, invocation_id, duration_ms
        )
    else:
        invocations.error(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s",
            function_name,
            invocation_id,
            duration_ms,
            error,
            exc_info=error if isinstance(error, BaseException) else None,
        )
