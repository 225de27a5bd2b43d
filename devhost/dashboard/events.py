"""Live updates: one shared producer watches the task hub and notifies every open `/api/events` stream.

The producer polls the cheapest question the engine answers, "which instances were updated since the
newest update I saw?" (an InstanceQuery with updated_from), once a second and only while a browser
listens. Purges leave no updated row behind, so the dashboard's own purges poke the feed directly and a
cheap total count (the hub statistics, cached by the engine) catches purges made elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.dashboard.payloads import iso
from devhost.dashboard.stats import HubStatistics
from devhost.dashboard.waiting import WaitingSource, nothing_waits
from devhost.durable.models import InstanceQuery
from devhost.durable.service import DurableService

log = logging.getLogger(__name__)

#: How often the producer asks the engine for changes while someone listens.
POLL_INTERVAL_S = 1.0
#: Every this many polls the total instance count is compared too (catches purges made elsewhere).
COUNT_EVERY = 5
#: Instances fetched per poll; more changes than this still produce an event (just a truncated id list).
PROBE_PAGE = 100
#: Ids sent with one event; beyond this the event says `"instanceIds": null` (refresh everything).
MAX_IDS = 50
#: A comment line this often keeps proxies and the browser from timing out an idle stream.
HEARTBEAT_S = 15.0
#: Events queued for one slow client before they are coalesced into a single "everything changed".
QUEUE_LIMIT = 32


@dataclass(frozen=True)
class Change:
    """Instances changed: which ones (None: unknown or too many, refresh everything) and when it was seen."""

    seq: int
    time: datetime
    instance_ids: tuple[str, ...] | None
    reason: str = "updated"

    def to_sse(self) -> bytes:
        """The change as one server-sent event named `instances`."""
        data: dict[str, Any] = {
            "seq": self.seq,
            "time": iso(self.time),
            "reason": self.reason,
            "instanceIds": list(self.instance_ids) if self.instance_ids is not None else None,
        }
        return f"id: {self.seq}\nevent: instances\ndata: {json.dumps(data)}\n\n".encode()


class _Subscriber:
    """One open stream's queue; None in the queue means the server is shutting down."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()

    def offer(self, item: Change | None) -> None:
        if item is not None and self.queue.qsize() >= QUEUE_LIMIT:
            # A client this far behind refreshes everything anyway: keep one coalesced event.
            while not self.queue.empty():
                self.queue.get_nowait()
            item = Change(item.seq, item.time, None, "coalesced")
        self.queue.put_nowait(item)


class ChangeFeed:
    """Watches the task hub for instance changes and fans them out to subscribers.

    run() is the single producer task; the dashboard app creates and cancels it with its lifecycle.
    """

    def __init__(
        self,
        service: DurableService,
        stats: HubStatistics | None = None,
        *,
        interval_s: float = POLL_INTERVAL_S,
        waiting: WaitingSource = nothing_waits,
    ) -> None:
        self._service = service
        self._stats = stats
        self._waiting = waiting
        #: Instances with work waiting for a worker at the last poll: parking a work item updates no instance row,
        #: so the feed compares this set to report an instance starting or ending a wait.
        self._waiting_ids: frozenset[str] = frozenset()
        self._interval_s = interval_s
        self._subscribers: set[_Subscriber] = set()
        self._listening = asyncio.Event()
        self._closed = False
        self._seq = 0
        self._watermark: datetime | None = None
        self._seen_at_watermark: set[tuple[str, datetime]] = set()
        self._total: int | None = None
        self._polls = 0

    @property
    def subscriber_count(self) -> int:
        """Open streams right now."""
        return len(self._subscribers)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Change | None]]:
        """A queue of changes for one stream while the block runs; None arrives when the feed closes."""
        subscriber = _Subscriber()
        if self._closed:
            subscriber.offer(None)
        self._subscribers.add(subscriber)
        self._listening.set()
        try:
            yield subscriber.queue
        finally:
            self._subscribers.discard(subscriber)

    def poke(self, instance_ids: tuple[str, ...] | None = None, reason: str = "updated") -> None:
        """Publish a change now (the dashboard's own actions, e.g. purges, which leave no updated row)."""
        self._publish(instance_ids, reason)

    def close(self) -> None:
        """End every open stream (server shutdown) and refuse new ones."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.offer(None)

    def _publish(self, instance_ids: tuple[str, ...] | None, reason: str) -> None:
        self._seq += 1
        change = Change(self._seq, datetime.now(UTC), instance_ids, reason)
        for subscriber in list(self._subscribers):
            subscriber.offer(change)

    async def run(self) -> None:
        """The producer loop: idle without subscribers, else poll once per interval until cancelled."""
        while True:
            if not self._subscribers:
                self._listening.clear()
                await self._listening.wait()
                # Clients load fresh data when their stream opens: only changes from now on matter.
                self._watermark = datetime.now(UTC)
                self._seen_at_watermark = set()
                self._total = None
                self._waiting_ids = frozenset(work.instance_id for work in self._waiting())
            try:
                await self.poll_once()
            except Exception:  # a failed poll must not end live updates for good
                log.exception("dashboard change feed: polling the task hub failed")
            await asyncio.sleep(self._interval_s)

    async def poll_once(self) -> None:
        """Ask the engine what changed since the last poll and publish one event if anything did."""
        if self._watermark is None:
            self._watermark = datetime.now(UTC)
        page = await self._service.query_instances(
            InstanceQuery(updated_from=self._watermark, page_size=PROBE_PAGE, newest_first=True)
        )
        fresh = [r for r in page.instances if (r.instance_id, r.last_updated_time) not in self._seen_at_watermark]
        if fresh:
            newest = max(r.last_updated_time for r in page.instances)
            if newest >= self._watermark:
                self._watermark = newest
                self._seen_at_watermark = {
                    (r.instance_id, r.last_updated_time) for r in page.instances if r.last_updated_time == newest
                }
            truncated = page.continuation_token is not None or len(fresh) > MAX_IDS
            self._publish(None if truncated else tuple(r.instance_id for r in fresh), "updated")
        waiting_ids = frozenset(work.instance_id for work in self._waiting())
        if waiting_ids != self._waiting_ids:
            changed = waiting_ids ^ self._waiting_ids
            self._waiting_ids = waiting_ids
            self._publish(None if len(changed) > MAX_IDS else tuple(sorted(changed)), "waiting")
        self._polls += 1
        if self._stats is not None and self._polls % COUNT_EVERY == 0:
            total = sum((await self._stats.status_counts()).values())
            if self._total is not None and total < self._total and not fresh:
                self._publish(None, "purged")
            self._total = total


async def stream_events(request: web.Request, feed: ChangeFeed) -> web.StreamResponse:
    """Serve one text/event-stream until the client goes away or the feed closes."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        with feed.subscribe() as queue:
            # `retry` tells EventSource how soon to reconnect; `ready` lets the page know it is live.
            await response.write(b'retry: 2000\nevent: ready\ndata: {"pollIntervalMs": 1000}\n\n')
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if item is None:
                    break
                await response.write(item.to_sse())
    except (ConnectionResetError, ConnectionError):
        pass  # the tab was closed
    return response


@contextlib.asynccontextmanager
async def running_feed(feed: ChangeFeed) -> AsyncIterator[None]:
    """Run the feed's producer for the duration of the block; cancelled and awaited afterwards."""
    task = asyncio.create_task(feed.run(), name="dashboard-change-feed")
    try:
        yield
    finally:
        feed.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
