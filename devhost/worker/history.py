"""What a worker keeps of each orchestration instance's history, so that an episode parses only its new events.

The extension sends a Python orchestrator the whole history on every episode, and the SDK parses all of it
into HistoryEvent objects before it replays. devhost's host sends each earlier episode's events once per
worker (as the chunks of an EpisodeContext); the worker keeps them parsed, and the SDK's context is built
over the kept events plus this episode's new ones (sdk_speedups.ContextText). The generator is
still created anew and replays from the first event: only the parsing is saved.

The SDK never changes a HistoryEvent after building it (``is_processed`` has a setter nobody calls), so the
same objects can serve every episode of an instance.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.history import HistoryEvent

from devhost.protocol.messages import PlayedHistory

#: Parsed events kept over all instances; the least recently used instances go first past it.
MAX_EVENTS = 100_000


@dataclass
class _Kept:
    key: str
    chunks: int = 0
    events: list[HistoryEvent] = field(default_factory=list)


class KeptHistories:
    """Parsed earlier-episode events by instance id, least recently used dropped first (thread-safe)."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self.max_events = max_events
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._events = 0
        self._lock = threading.Lock()

    def played_events(self, instance_id: str, played: PlayedHistory) -> list[HistoryEvent] | None:
        """The instance's earlier events with played's chunks added; None when the worker lacks the base."""
        with self._lock:
            kept = self._kept.get(instance_id)
            if played["base"] != 0 and (kept is None or kept.key != played["key"] or kept.chunks != played["base"]):
                return None
            # Parsed before anything changes, so that a chunk the SDK rejects leaves the kept events as they were.
            added = [HistoryEvent(**event) for chunk in played["chunks"] for event in _parse_chunk(chunk)]
            if played["base"] == 0:
                if kept is not None:
                    self._events -= len(kept.events)
                kept = _Kept(played["key"])
            assert kept is not None
            kept.events.extend(added)
            kept.chunks += len(played["chunks"])
            self._events += len(added)
            self._kept[instance_id] = kept
            self._kept.move_to_end(instance_id)
            while self._events > self.max_events and len(self._kept) > 1:
                _, oldest = self._kept.popitem(last=False)
                self._events -= len(oldest.events)
            return list(kept.events)

    def __len__(self) -> int:
        return len(self._kept)


def _parse_chunk(chunk: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads("[" + chunk + "]")
    return events
