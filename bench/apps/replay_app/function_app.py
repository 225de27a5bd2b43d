"""The chaining orchestrator of bench/replay_cost.py: one activity call after another, `steps` of them.

Served by a devhost worker process (``python -m devhost.worker``) for the worker column, and imported
directly for the in-process columns, so both run the same SDK handle.
"""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()

ORCHESTRATOR = "replay_chain"
ACTIVITY = "replay_step"


@app.activity_trigger(input_name="city")
def replay_step(city: str) -> str:
    """Activity: the benchmark's trivial step."""
    return f"Hello {city}!"


@app.orchestration_trigger(context_name="context")
def replay_chain(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    """Call replay_step `steps` times (the input), one after another."""
    steps = int(context.get_input() or 0)
    greetings: list[str] = []
    for n in range(steps):
        greeting = yield context.call_activity(ACTIVITY, f"City{n}")
        greetings.append(greeting)
    return greetings
