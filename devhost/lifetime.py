"""Child processes that end with the host, even when it is killed (standard library only)."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

#: prctl(2) option: the signal the kernel sends a process when the thread that started it ends.
_PR_SET_PDEATHSIG = 1


def parent_death_request(signum: int, parent_pid: int) -> Callable[[], None] | None:
    """On Linux, a function that asks the kernel to send the process calling it signum when its parent ends,
    and exits at once if its parent (parent_pid) is already gone; None on other systems.

    The kernel looks at the thread that started the process, so the starter must live as long as the child
    should. Look this up in the parent: as a preexec_fn, the child then only calls it (nothing is loaded
    between fork and exec).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def request() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os._exit(1)

    return request
