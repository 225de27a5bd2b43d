"""Work nobody can run right now (no connected worker takes its name), as the dashboard shows it: per instance
on the instance list and detail, and counted by name on the overview."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

from devhost.durable.models import WaitingWork

#: Where the dashboard reads the waiting work from (DurableEngine.waiting_work).
WaitingSource = Callable[[], list[WaitingWork]]


def nothing_waits() -> list[WaitingWork]:
    """The source of a task hub whose runner never turns work away (the app's own functions only)."""
    return []


def by_instance(waiting: Iterable[WaitingWork]) -> dict[str, list[dict[str, Any]]]:
    """Instance (or entity) id -> what of it waits: one entry per kind and name, with how many items."""
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter(
        (work.instance_id, work.kind, work.name) for work in waiting
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for (instance_id, kind, name), count in sorted(counts.items()):
        out.setdefault(instance_id, []).append({"kind": kind, "name": name, "count": count})
    return out


def by_name(waiting: Iterable[WaitingWork]) -> list[dict[str, Any]]:
    """Waiting work items counted per kind and name, the most first."""
    counts = collections.Counter((work.kind, work.name) for work in waiting)
    return [
        {"kind": kind, "name": name, "count": count}
        for (kind, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
