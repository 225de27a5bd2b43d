"""The engine's ready queue: one entry per key, first in first out."""

from __future__ import annotations

from devhost.durable.engine import _ReadyQueue


async def test_keys_leave_in_the_order_they_came_once_each() -> None:
    ready = _ReadyQueue()
    for key in ("running-1", "running-2", "new-1"):
        ready.mark(key)
    ready.mark("running-1")  # already queued: stays where it is
    ready.mark("new-2")
    taken = [await ready.take() for _ in range(4)]
    assert taken == ["running-1", "running-2", "new-1", "new-2"]
    assert ready.queue.empty()


async def test_a_key_marked_while_it_runs_is_queued_again_once_done() -> None:
    ready = _ReadyQueue()
    ready.mark("a")
    assert await ready.take() == "a"
    ready.mark("a")  # new messages while its episode runs
    ready.mark("b")
    assert await ready.take() == "b"
    ready.done("a")
    assert await ready.take() == "a"
