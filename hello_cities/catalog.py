"""The orchestrations this app offers, under the short names used by messages, the producer and results."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVITY_NAME = "say_hello"


@dataclass(frozen=True)
class Orchestration:
    """One orchestration: its short name, its function name and the cities it greets by default."""

    short_name: str
    function_name: str
    default_cities: tuple[str, ...]


CHAINING = Orchestration("chaining", "chaining_orchestration", ("Tokyo", "Seattle", "London"))
FAN_OUT_FAN_IN = Orchestration(
    "fanout", "fan_out_fan_in_orchestration", ("Tokyo", "Seattle", "London", "Paris", "Berlin")
)
ORCHESTRATIONS: tuple[Orchestration, ...] = (CHAINING, FAN_OUT_FAN_IN)
_BY_SHORT_NAME = {o.short_name: o for o in ORCHESTRATIONS}
_BY_FUNCTION_NAME = {o.function_name.lower(): o for o in ORCHESTRATIONS}


def by_short_name(name: str) -> Orchestration | None:
    """The orchestration with this short name ("chaining" or "fanout"), or None."""
    return _BY_SHORT_NAME.get(name)


def by_function_name(name: str | None) -> Orchestration | None:
    """The orchestration with this function name (case-insensitive, as the host matches names), or None."""
    return _BY_FUNCTION_NAME.get(name.lower()) if name else None


def by_any_name(name: str) -> Orchestration | None:
    """Look an orchestration up by short name first, then by function name."""
    return by_short_name(name) or by_function_name(name)
