"""The change feed's wire format and fan-out rules (no engine needed: these are its pure parts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from devhost.dashboard.events import QUEUE_LIMIT, Change, ChangeFeed


def _parse(raw: bytes) -> dict[str, str]:
    text = raw.decode()
    assert text.endswith("\n\n"), "an event ends with a blank line"
    fields = dict(line.split(": ", 1) for line in text.strip().split("\n"))
    return fields


def test_change_is_one_named_server_sent_event() -> None:
    change = Change(3, datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC), ("a", "b"))
    fields = _parse(change.to_sse())
    assert fields["id"] == "3" and fields["event"] == "instances"
    assert json.loads(fields["data"]) == {
        "seq": 3,
        "time": "2024-05-01T10:00:00.123Z",
        "reason": "updated",
        "instanceIds": ["a", "b"],
    }
    assert json.loads(_parse(Change(4, change.time, None, "purged").to_sse())["data"])["instanceIds"] is None


def test_pokes_reach_every_subscriber_and_a_slow_one_gets_one_coalesced_event() -> None:
    feed = ChangeFeed(cast(Any, object()))
    with feed.subscribe() as fast, feed.subscribe() as slow:
        assert feed.subscriber_count == 2
        feed.poke(("x",), "purged")
        first = fast.get_nowait()
        assert first is not None and first.instance_ids == ("x",) and first.reason == "purged"
        for n in range(QUEUE_LIMIT + 5):
            feed.poke((f"i{n}",))
            fast.get_nowait()  # the fast reader keeps up
        assert slow.qsize() <= QUEUE_LIMIT
        items = [slow.get_nowait() for _ in range(slow.qsize())]
        assert any(item is not None and item.reason == "coalesced" and item.instance_ids is None for item in items)
        seqs = [item.seq for item in items if item is not None]
        assert seqs == sorted(seqs), "events stay in order"
    assert feed.subscriber_count == 0


def test_close_ends_open_streams_and_refuses_new_ones() -> None:
    feed = ChangeFeed(cast(Any, object()))
    with feed.subscribe() as queue:
        feed.close()
        assert queue.get_nowait() is None
    with feed.subscribe() as late:
        assert late.get_nowait() is None
