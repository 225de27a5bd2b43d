"""The activity fast lane: one thread running quick, CPU-bound sync activities one after another.

Sending each activity to the function thread pool costs a future, a wake-up of a pool thread and one of
the event loop, which is more than a trivial activity costs; and with many pool threads runnable at once
most of the time goes into handing the GIL from one to the next (an in-process fan-out of 10,000
greetings: 4.7 s through the pool, 2.3 s through one thread). So an activity whose last invocation was
short and spent on the CPU, not waiting for I/O, is queued to this single thread instead, and the
completions go back to the event loop in batches, one wake-up for all that finished meanwhile.
Everything else (async functions, slow or I/O-bound ones, functions not yet measured) keeps running
through the pool, concurrently, as before. A function that turns slow is sent to the pool again from
its next invocation on.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from devhost.durable.models import ActivityFunction
from devhost.durable.store.queries import WorkItem

#: An invocation qualifies for the lane when it took less than this, wall clock...
MAX_WALL_S: Final = 0.002
#: ... of which at least this share on the CPU (less means it waited for something).
MIN_CPU_SHARE: Final = 0.5

#: What running one item produced: the result JSON text, the exception raised, or an awaitable returned by
#: a sync function (the engine finishes it on the event loop).
Outcome = str | BaseException | Awaitable[str]
_STOP: Final = object()


def is_fast(function: ActivityFunction) -> bool:
    """Whether the function's last invocation in a thread was short and CPU-bound."""
    wall, cpu = function.last_wall_s, function.last_cpu_s
    if function.run_in_thread is None or wall is None or cpu is None:
        return False
    return wall < MAX_WALL_S and cpu >= MIN_CPU_SHARE * wall


class ActivityLane:
    """The lane's thread, its queue, and the batched hand-back of outcomes to the event loop."""

    def __init__(
        self,
        functions: Mapping[str, ActivityFunction],
        deliver: Callable[[list[tuple[WorkItem, Outcome]]], None],
    ) -> None:
        self._functions = functions
        self._deliver = deliver
        self._queue: queue.SimpleQueue[WorkItem | object] = queue.SimpleQueue()
        self._done: deque[tuple[WorkItem, Outcome]] = deque()
        self._wake_lock = threading.Lock()
        self._wake_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread; outcomes are delivered on `loop`."""
        self._loop = loop
        # A daemon: an activity still running when the grace period of stop() ends must not keep the
        # process alive (its work item stays in the store and runs again after a restart).
        self._thread = threading.Thread(target=self._run, name="durable-activity-lane", daemon=True)
        self._thread.start()

    def submit(self, item: WorkItem) -> None:
        """Queue an item whose function is_fast()."""
        self._queue.put(item)

    async def stop(self, grace_s: float) -> None:
        """Drop what has not started (its work items stay in the store), wait up to grace_s for the one
        running, and deliver what finished; nothing is delivered after this returns."""
        if self._thread is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, grace_s)
        self._thread = None
        self._hand_back()
        self._closed = True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if not isinstance(item, WorkItem):
                return
            function = self._functions[item.name.lower()]
            assert function.run_in_thread is not None
            outcome: Outcome
            try:
                outcome = function.run_in_thread(item.input or "null")
            except Exception as exc:
                outcome = exc
            self._done.append((item, outcome))
            with self._wake_lock:
                if self._wake_scheduled:
                    continue
                self._wake_scheduled = True
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._hand_back)
            except RuntimeError:  # the loop is closed: the host is gone
                return

    def _hand_back(self) -> None:
        if self._closed:
            return  # stopped: an activity that outlived the grace period runs again after a restart
        # Cleared before popping: an outcome appended after this point schedules the next hand-back.
        with self._wake_lock:
            self._wake_scheduled = False
        batch: list[tuple[WorkItem, Outcome]] = []
        while self._done:
            batch.append(self._done.popleft())
        if batch:
            self._deliver(batch)
