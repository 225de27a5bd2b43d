"""Result-identical shortcuts in the SDK's parsing of the orchestration context.

**Timestamps.** The SDK parses every history event's ``Timestamp`` with ``dateutil.parser.parse`` on every replay;
for long histories that generic parser dominates replay time (~80 us per event). The host writes
timestamps in exactly one format (``%Y-%m-%dT%H:%M:%S.%fZ``), so ``install()`` swaps the parser the
SDK's HistoryEvent module bound at import for one that recognises that format directly and builds
the very value dateutil would (same fields, same tzinfo); any other text still
goes to dateutil. The client's DurableOrchestrationStatus gets the same parser (the management API
writes its times as ``%Y-%m-%dT%H:%M:%SZ``).

**Kept history.** ``DurableOrchestrationContext.from_json`` (what the SDK's orchestrator handle calls) is
wrapped so that a ``ContextText`` (context JSON whose history holds only this episode's new events, carrying
the earlier episodes' events already parsed, see devhost/worker/history.py) yields the context the SDK
would build from the whole history: the same attributes with the same values. ``install()`` checks that on
a sample history with the installed SDK and leaves ``from_json`` alone when they differ, and
``keeps_history()`` then says False so the host sends whole histories. Nothing else in the SDK changes: the
handle, the replay and everything user code sees are the SDK's own.

Both are put in place only on the azure-functions-durable versions listed in sdk_internals.VERIFIED, and
only when their own checks pass; sdk_internals.log_fences() logs what was left off.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history import HistoryEvent, HistoryEventType
from dateutil.parser import parse as dateutil_parse

from devhost.worker import sdk_internals

# What dateutil attaches to a 'Z' timestamp on this machine (tzlocal() when local time is UTC,
# tzutc() otherwise); reusing it keeps results identical, down to the tzinfo object's type.
_UTC = dateutil_parse("2000-01-01T00:00:00Z").tzinfo
_PATTERN = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?Z\Z")
_installed = False
_active: set[str] = set()
_stock_from_json: Callable[..., Any] | None = None


def parse_timestamp(text: Any, *args: Any, **kwargs: Any) -> datetime:
    """dateutil.parser.parse, with a fast path for 'YYYY-MM-DDTHH:MM:SS[.fffffff]Z'."""
    if not args and not kwargs and isinstance(text, str):
        match = _PATTERN.match(text)
        if match is not None:
            year, month, day, hour, minute, second, fraction = match.groups()
            # dateutil keeps the first 6 fractional digits (it truncates, it does not round).
            micros = int((fraction or "0")[:6].ljust(6, "0"))
            return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=_UTC)
    return dateutil_parse(text, *args, **kwargs)


class ContextText(str):
    """Context JSON text whose history is this episode's new events, with the earlier events parsed."""

    played: list[HistoryEvent]

    @classmethod
    def of(cls, text: str, played: list[HistoryEvent]) -> ContextText:
        """The text, carrying played."""
        context = cls(text)
        context.played = played
        return context


#: The shortcuts, by the names log lines and tests use.
TIMESTAMP_PARSER = "the timestamp parser"
KEPT_HISTORY = "the kept history"
ALL = (TIMESTAMP_PARSER, KEPT_HISTORY)


def active() -> frozenset[str]:
    """The shortcuts install() put in place."""
    return frozenset(_active)


def keeps_history() -> bool:
    """True when the SDK's handle accepts a ContextText (install() checked this SDK builds the same context)."""
    return KEPT_HISTORY in _active


def install() -> None:
    """Put the shortcuts in place where the installed SDK is a verified version and each one's check passes;
    log the fences that are down (sdk_internals.log_fences). Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    if sdk_internals.is_verified("azure-functions-durable"):
        if _install_timestamp_parser():
            _active.add(TIMESTAMP_PARSER)
        if _install_kept_history():
            _active.add(KEPT_HISTORY)
    sdk_internals.log_fences([name for name in ALL if name not in _active])


def _install_timestamp_parser() -> bool:
    # import_module: the package re-exports the classes under their modules' names. The client's status
    # objects parse three times each the same way; an app listing instances every second spent ~20 % of
    # its event loop in dateutil there.
    modules = [
        importlib.import_module(name)
        for name in (
            "azure.durable_functions.models.history.HistoryEvent",
            "azure.durable_functions.models.DurableOrchestrationStatus",
        )
    ]
    if not all(getattr(module, "dt_parse", None) is dateutil_parse for module in modules):
        return False
    for module in modules:
        setattr(module, "dt_parse", parse_timestamp)  # noqa: B010 - a module attribute
    return True


def _install_kept_history() -> bool:
    global _stock_from_json
    stock = _stock_from_json = stock_from_json()
    DurableOrchestrationContext.from_json = classmethod(_from_json_with_played(stock))
    if same_context(stock):
        return True
    DurableOrchestrationContext.from_json = classmethod(stock)
    return False


def _from_json_with_played(stock: Callable[..., Any]) -> Callable[..., Any]:
    def from_json(cls: type[DurableOrchestrationContext], json_string: str) -> Any:
        context = stock(cls, json_string)
        played = getattr(json_string, "played", None)
        if played:
            # What __init__ derives from the history, derived again from the whole of it.
            history = [*played, *context._histories]
            context._histories = history
            context.decision_started_event = next(
                e for e in history if e.event_type == HistoryEventType.ORCHESTRATOR_STARTED
            )
            context._current_utc_datetime = context.decision_started_event.timestamp
            context._version = context._extract_version_from_history(history)
        return context

    return from_json


def stock_from_json() -> Callable[..., Any]:
    """The SDK's own from_json (the function under the classmethod), whether or not install() wrapped it."""
    return _stock_from_json or DurableOrchestrationContext.__dict__["from_json"].__func__


def same_context(stock: Callable[..., Any]) -> bool:
    """Whether the installed from_json builds from a ContextText the context stock builds from the whole
    history (the same attributes with the same values, on a sample history)."""
    played = [
        {"EventType": 12, "EventId": -1, "Timestamp": "2026-01-01T00:00:00.0000000Z"},
        {"EventType": 0, "EventId": -1, "Timestamp": "2026-01-01T00:00:00.0000000Z", "Name": "o",
         "Input": "[1]", "Version": "v1"},
        {"EventType": 4, "EventId": 0, "Timestamp": "2026-01-01T00:00:00.0000000Z", "Name": "a"},
        {"EventType": 13, "EventId": -1, "Timestamp": "2026-01-01T00:00:00.0000000Z"},
    ]  # fmt: skip
    new = [
        {"EventType": 12, "EventId": -1, "Timestamp": "2026-01-01T00:00:01.5Z", "IsPlayed": False},
        {"EventType": 5, "EventId": -1, "Timestamp": "2026-01-01T00:00:01.5Z", "TaskScheduledId": 0,
         "Result": "\"x\"", "IsPlayed": False},
    ]  # fmt: skip
    played = [{**event, "IsPlayed": True} for event in played]
    rest = {
        "instanceId": "i",
        "isReplaying": False,
        "parentInstanceId": None,
        "input": "[1]",
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    try:
        whole = stock(DurableOrchestrationContext, json.dumps({"history": played + new, **rest}))
        kept = [HistoryEvent(**event) for event in played]
        split = DurableOrchestrationContext.from_json(ContextText.of(json.dumps({"history": new, **rest}), kept))
        return _fingerprint(whole) == _fingerprint(split)
    except Exception:
        return False


def _fingerprint(value: Any) -> Any:
    if isinstance(value, HistoryEvent | DurableOrchestrationContext):
        return (type(value).__name__, {k: _fingerprint(v) for k, v in vars(value).items()})
    if isinstance(value, list | tuple):
        return [_fingerprint(v) for v in value]
    if isinstance(value, dict):
        return {k: _fingerprint(v) for k, v in value.items()}
    if type(value).__module__.startswith("azure.durable_functions") and hasattr(value, "__dict__"):
        return (type(value).__name__, {k: _fingerprint(v) for k, v in vars(value).items()})
    return value
