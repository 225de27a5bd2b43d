"""The engine's ready queue: one entry per key, and new instances' first episodes ahead of the rest."""

from __future__ import annotations

from devhost.durable.engine import _ReadyQueue


async def test_first_episodes_go_ahead_and_the_rest_keep_their_order() -> None:
    ready = _ReadyQueue()
    for key in ("running-1", "running-2", "running-3"):
        ready.mark(key)
    ready.mark("new-1", first=True)
    ready.mark("running-1")  # already queued: stays where it is
    ready.mark("new-2", first=True)
    taken = [await ready.take() for _ in range(5)]
    assert taken == ["new-1", "new-2", "running-1", "running-2", "running-3"]
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
