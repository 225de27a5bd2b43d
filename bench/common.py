"""What every benchmark runner shares: workload sizes, the trivial activity, timing statistics.

A runner measures each workload and reports a ``Measurement``; ``bench.run`` turns them into rows.
Times are wall-clock seconds (``time.time()``) so that a client's send time and the completion time an
engine recorded can be compared across threads and processes on the same machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: the full run, or tiny ones for the smoke test."""

    w1_orchestrations: int = 200
    w2_activities: int = 200
    w3_fan_outs: tuple[int, ...] = (5, 1000, 10000)
    w4_orchestrations: int = 200
    w4_cities: int = 5
    w5_messages: int = 1000
    #: W5-paced: the same messages sent at a fixed rate that leaves the machine spare CPU.
    w5_paced_messages: int = 500
    w5_paced_rate: float = 50.0

    @classmethod
    def smoke(cls) -> Sizes:
        """A few seconds in all."""
        return cls(
            w1_orchestrations=4,
            w2_activities=5,
            w3_fan_outs=(5, 20, 40),
            w4_orchestrations=4,
            w5_messages=5,
            w5_paced_messages=5,
        )

    def to_json(self) -> str:
        """JSON text for a runner subprocess's --sizes."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Sizes:
        """Inverse of to_json."""
        data = json.loads(text)
        data["w3_fan_outs"] = tuple(data["w3_fan_outs"])
        return cls(**data)


#: The three cities of the chaining workload (Hello Cities' defaults).
CHAIN_CITIES = ["Tokyo", "Seattle", "London"]


def say_hello(city: str) -> str:
    """The trivial activity every engine runs (same as function_app.say_hello)."""
    return f"Hello {city}!"


def cities(count: int) -> list[str]:
    """count distinct city names."""
    return [f"City{n}" for n in range(count)]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class Measurement:
    """One workload on one engine: wall time, throughput and, for many instances, latency."""

    wall_s: float
    count: int  # orchestrations (W1, W4, W5) or activities (W2, W3)
    latencies_s: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """count per second of wall time."""
        return self.count / self.wall_s if self.wall_s > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (latencies reduced to p50/p95)."""
        out: dict[str, Any] = {"wall_s": round(self.wall_s, 3), "count": self.count, "rate": round(self.rate, 1)}
        if self.latencies_s:
            out["p50_s"] = round(statistics.median(self.latencies_s), 4)
            out["p95_s"] = round(percentile(self.latencies_s, 95), 4)
        out.update(self.extra)
        return out


def measurement_from(sent: dict[str, float], done: dict[str, float], count: int | None = None) -> Measurement:
    """Wall time from the first send to the last completion, and each instance's send-to-complete latency."""
    first = min(sent.values())
    last = max(done.values())
    latencies = [done[key] - sent[key] for key in sent]
    return Measurement(wall_s=last - first, count=count if count is not None else len(sent), latencies_s=latencies)


def emit(results: dict[str, Any]) -> None:
    """A runner subprocess's answer: one JSON line on stdout, marked so logs cannot be mistaken for it."""
    print("BENCH-RESULT " + json.dumps(results), flush=True)


def runner_arguments(*, needs_port: bool = True) -> tuple[Sizes, int]:
    """A runner subprocess's command line (``--sizes JSON --port N``, as bench.run passes them): its sizes and
    port. Logs at WARNING and above only, so that they do not drown the result line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=Sizes().to_json())
    if needs_port:
        parser.add_argument("--port", type=int, required=True)
    else:
        parser.add_argument("--port", type=int, default=0, help="unused by this runner; accepted like other peers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return Sizes.from_json(args.sizes), args.port
