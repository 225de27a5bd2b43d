"""The results collector: find completed Hello Cities runs and record each output exactly once.

Invariant kept by the watermark W stored next to the results: every instance created before W that is
Completed has been recorded, and every instance created before W is terminal. Each pass lists instances
created in [W, now], records each Completed run of our orchestrations with a conditional insert (an
existing row means "already recorded", so concurrent or repeated passes never record twice), and then
moves W to the earliest creation time of any instance still running (or to now minus a settle time
that absorbs clock skew and creations not yet visible). Runs that started before a pass and finish
after it keep W at or before their creation time, so the next pass sees them.

The Durable client lists at most one page (100 instances) per query, so the scan splits a created-time
window in half whenever a query comes back full; the split windows overlap at their shared bound, and
instances are de-duplicated by id.

A process that runs passes often keeps a ScanMemory, which only saves work and is never needed for
correctness: a pass sooner than SETTLE_TIME (less SCHEDULE_JITTER) after the last full one is *quick*:
it rescans only from the earliest instance that was still running (or RESCAN_OVERLAP before the last
pass's end) and leaves the stored watermark alone, so an instance a quick pass cannot see yet is found by
the next full pass as before. Both kinds plan their windows from how many instances the last pass saw in
each second, so that few queries come back full and are thrown away.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol

from hello_cities.catalog import by_function_name

#: Instances one list query returns at most (the Durable HTTP API's page size).
PAGE_SIZE = 100
#: Smallest window worth splitting: the Durable client sends times with microsecond precision.
MIN_WINDOW = timedelta(microseconds=1)
#: How far behind "now" the watermark stays, covering host clock skew and creations not yet listed.
SETTLE_TIME = timedelta(seconds=10)
#: Status times are reported in whole seconds, so a creation time read back may be up to 1 s early.
CREATED_TIME_SLACK = timedelta(seconds=1)
#: How far before the last pass's end a quick pass starts, for instances created just before it ended.
RESCAN_OVERLAP = timedelta(seconds=2)
#: A pass this much short of SETTLE_TIME after the last full one is full all the same: a timer firing
#: every SETTLE_TIME starts its passes a few milliseconds short of it as often as not.
SCHEDULE_JITTER = timedelta(seconds=1)
#: Instances a planned window is meant to hold: well under a page, so that few plans come back full.
PLANNED_WINDOW_FILL = 60
#: How long per-second creation counts are kept for planning.
COUNTS_KEPT = timedelta(hours=1)
#: Where the very first pass starts scanning.
BEGINNING_OF_TIME = datetime(2000, 1, 1, tzinfo=UTC)

COMPLETED = "Completed"
NOT_TERMINAL_STATUSES = ("Running", "Pending", "ContinuedAsNew", "Suspended")
#: Statuses the scan asks for: Completed (to record) and anything not yet terminal (for the watermark).
SCANNED_STATUSES = (COMPLETED, *NOT_TERMINAL_STATUSES)


class CollectorError(RuntimeError):
    """A collection pass could not complete; nothing it has not recorded is considered collected."""


@dataclass(frozen=True)
class InstanceSnapshot:
    """What the collector needs to know about one orchestration instance."""

    instance_id: str
    name: str | None
    runtime_status: str
    created_time: datetime
    last_updated_time: datetime
    output: Any = None


@dataclass(frozen=True)
class CompletedRun:
    """One completed run to record."""

    instance_id: str
    orchestration: str
    output: Any
    completed_time: datetime
    created_time: datetime


@dataclass(frozen=True)
class Watermark:
    """The stored watermark and the version tag that guards its update."""

    value: datetime
    etag: str | None = None


#: Lists instances created in [created_from, created_to] (both inclusive); returns at most PAGE_SIZE.
InstanceLister = Callable[[datetime, datetime], Awaitable[Sequence[InstanceSnapshot]]]


class ResultSink(Protocol):
    """Where results and the watermark live (an Azure Storage table in the app)."""

    async def load_watermark(self) -> Watermark | None:
        """The stored watermark, or None before the first pass."""
        ...

    async def record_many(self, runs: Sequence[CompletedRun]) -> list[bool]:
        """Insert each run unless already recorded; per run, True if this call recorded it."""
        ...

    async def save_watermark(self, previous: Watermark | None, value: datetime) -> bool:
        """Store a new watermark unless it changed since `previous` was read; True if stored."""
        ...


class RecordedCache:
    """Bounded memory of instance ids already recorded, sparing repeated inserts across passes."""

    def __init__(self, max_size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max_size = max_size

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, instance_id: str) -> None:
        """Remember an id, forgetting the oldest beyond the size bound."""
        self._ids[instance_id] = None
        self._ids.move_to_end(instance_id)
        while len(self._ids) > self._max_size:
            self._ids.popitem(last=False)


@dataclass
class ScanMemory:
    """What this process's last pass saw, to make the next pass cheaper (see the module docstring)."""

    #: The end of the last pass.
    scanned_to: datetime | None = None
    #: The end of the last full pass (one that scanned from the stored watermark).
    full_scanned_to: datetime | None = None
    #: Where a quick pass starts: before every instance the last pass saw still running.
    resume_from: datetime | None = None
    #: Instances the last pass saw, by the whole second of their creation time.
    created_per_second: Counter[datetime] = field(default_factory=Counter)

    def quick_start(self, scanned_to: datetime, watermark: datetime) -> datetime | None:
        """Where a pass ending at scanned_to may start instead of the watermark, or None for a full pass."""
        if self.resume_from is None or self.full_scanned_to is None:
            return None
        if scanned_to - self.full_scanned_to >= SETTLE_TIME - SCHEDULE_JITTER or self.resume_from <= watermark:
            return None
        return min(self.resume_from, scanned_to)

    def remember(
        self, instances: Sequence[InstanceSnapshot], scanned_from: datetime, scanned_to: datetime, full: bool
    ) -> None:
        """Keep what a finished pass saw, unless a later pass has already finished."""
        if self.scanned_to is not None and scanned_to < self.scanned_to:
            return
        self.scanned_to = scanned_to
        if full:
            self.full_scanned_to = scanned_to
        self.resume_from = next_watermark(instances, scanned_to, settle=RESCAN_OVERLAP)
        # The counts of seconds this pass scanned are replaced; older ones stay for the next full pass.
        forget_before = scanned_to - COUNTS_KEPT
        for second in [s for s in self.created_per_second if s >= _whole_second(scanned_from) or s < forget_before]:
            del self.created_per_second[second]
        self.created_per_second.update(_whole_second(as_utc(i.created_time)) for i in instances)


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def plan_windows(
    start: datetime, end: datetime, per_second: Mapping[datetime, int], fill: int = PLANNED_WINDOW_FILL
) -> list[tuple[datetime, datetime]]:
    """Split [start, end] into consecutive windows expected to hold about `fill` instances each.

    The expectation is what the last pass saw per second; seconds it did not see go into the last
    window. Windows share their bounds, and their union is exactly [start, end].
    """
    windows: list[tuple[datetime, datetime]] = []
    low, expected = start, 0
    for second in sorted(s for s in per_second if start < s + timedelta(seconds=1) and s <= end):
        count = per_second[second]
        second_start, second_end = max(second, start), min(second + timedelta(seconds=1), end)
        if expected and expected + count > fill and second_start > low:
            windows.append((low, second_start))
            low, expected = second_start, 0
        if count > fill and second_end > second_start:
            # A crowded second: cut it into equal parts (creation times within it are not known).
            if second_start > low:
                windows.append((low, second_start))
            parts = math.ceil(count / fill)
            bounds = [second_start + (second_end - second_start) * i / parts for i in range(parts)] + [second_end]
            windows.extend(pairwise(bounds))
            low, expected = second_end, 0
            continue
        expected += count
    if low < end or not windows:
        windows.append((low, end))
    return windows


@dataclass
class ScanResult:
    """Instances found in a created-time range and how many list queries it took."""

    instances: dict[str, InstanceSnapshot] = field(default_factory=dict)
    queries: int = 0


@dataclass(frozen=True)
class PassReport:
    """What one collection pass did."""

    scanned_from: datetime
    scanned_to: datetime
    queries: int
    instances_seen: int
    recorded: int
    already_recorded: int
    not_terminal: int
    watermark: datetime
    watermark_saved: bool
    #: True for a quick pass (it started after the stored watermark and did not move it).
    quick: bool = False


def as_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive values are taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def scan_created_between(
    lister: InstanceLister,
    start: datetime,
    end: datetime,
    page_size: int = PAGE_SIZE,
    plan: Sequence[tuple[datetime, datetime]] | None = None,
) -> ScanResult:
    """List every instance created in [start, end], splitting windows whose query came back full.

    plan, when given, is a split of [start, end] into consecutive windows to query first (plan_windows).
    """
    result = ScanResult()
    # Popped last-in first-out: reversed, so that the earliest window is scanned first.
    pending: list[tuple[datetime, datetime]] = list(reversed(plan)) if plan else [(start, end)]
    while pending:
        low, high = pending.pop()
        page = await lister(low, high)
        result.queries += 1
        if len(page) >= page_size:
            if high - low <= MIN_WINDOW:
                raise CollectorError(
                    f"more than {page_size - 1} instances were created between {low.isoformat()} and "
                    f"{high.isoformat()}; the list API cannot page through them"
                )
            middle = low + (high - low) / 2
            # Popped last-in first-out: the earlier half is scanned first.
            pending.append((middle, high))
            pending.append((low, middle))
            continue
        for instance in page:
            result.instances[instance.instance_id] = instance
    return result


def completed_run(instance: InstanceSnapshot) -> CompletedRun | None:
    """The run to record for a Completed instance of one of our orchestrations, else None."""
    orchestration = by_function_name(instance.name)
    if instance.runtime_status != COMPLETED or orchestration is None:
        return None
    return CompletedRun(
        instance_id=instance.instance_id,
        orchestration=orchestration.short_name,
        output=instance.output,
        completed_time=as_utc(instance.last_updated_time),
        created_time=as_utc(instance.created_time),
    )


def next_watermark(
    instances: Sequence[InstanceSnapshot], scanned_to: datetime, settle: timedelta = SETTLE_TIME
) -> datetime:
    """The earliest creation time of any instance not yet terminal, never later than scanned_to - settle."""
    candidates = [scanned_to - settle]
    candidates.extend(
        as_utc(i.created_time) - CREATED_TIME_SLACK for i in instances if i.runtime_status in NOT_TERMINAL_STATUSES
    )
    return min(candidates)


async def _record_all(sink: ResultSink, runs: Sequence[CompletedRun], cache: RecordedCache) -> tuple[int, int]:
    """Record runs; returns (newly recorded, already recorded)."""
    outcomes = await sink.record_many(runs) if runs else []
    for run in runs:
        cache.add(run.instance_id)
    recorded = sum(1 for inserted in outcomes if inserted)
    return recorded, len(outcomes) - recorded


async def run_collection_pass(
    lister: InstanceLister,
    sink: ResultSink,
    cache: RecordedCache,
    now: datetime | None = None,
    page_size: int = PAGE_SIZE,
    memory: ScanMemory | None = None,
) -> PassReport:
    """One pass: scan from the stored watermark to now, record new completed runs, advance the watermark.

    With a memory, a pass soon after a full one is quick: it scans less and leaves the watermark alone.
    """
    scanned_to = as_utc(now or datetime.now(UTC))
    previous = await sink.load_watermark()
    stored_from = min(as_utc(previous.value), scanned_to) if previous else BEGINNING_OF_TIME
    quick_from = memory.quick_start(scanned_to, stored_from) if memory else None
    scanned_from = quick_from or stored_from
    plan = plan_windows(scanned_from, scanned_to, memory.created_per_second) if memory else None
    scan = await scan_created_between(lister, scanned_from, scanned_to, page_size, plan)
    instances = list(scan.instances.values())
    runs = [run for run in map(completed_run, instances) if run is not None and run.instance_id not in cache]
    # Sorted so results of one pass are inserted oldest first, which keeps logs easy to follow.
    runs.sort(key=lambda run: (run.completed_time, run.instance_id))
    recorded, already = await _record_all(sink, runs, cache)
    if memory:
        memory.remember(instances, scanned_from, scanned_to, full=quick_from is None)
    if quick_from is None:
        watermark = next_watermark(instances, scanned_to)
        saved = watermark != (previous.value if previous else None) and await sink.save_watermark(previous, watermark)
    else:
        watermark, saved = stored_from, False
    return PassReport(
        scanned_from=scanned_from,
        scanned_to=scanned_to,
        queries=scan.queries,
        instances_seen=len(instances),
        recorded=recorded,
        already_recorded=already,
        not_terminal=sum(1 for i in instances if i.runtime_status in NOT_TERMINAL_STATUSES),
        watermark=watermark,
        watermark_saved=saved,
        quick=quick_from is not None,
    )
