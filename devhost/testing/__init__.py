"""Testing a Durable Functions app: devhost's pytest plugin (the ``durable_host`` fixture, plugin.py) and
``run_orchestrator``, an orchestrator run in the test's own process (orchestrator.py). docs/testing.md.

The names below are imported on first use: pytest loads the plugin in every run of every project that has
devhost installed, and the Durable SDK alone takes a fifth of a second to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devhost.testing.durable_host import DurableHost, DurableHostError, HttpResult
    from devhost.testing.orchestrator import (
        OrchestrationResult,
        OrchestrationStuckError,
        UnsupportedInUnitRunError,
        run_orchestrator,
    )

_EXPORTS = {
    "run_orchestrator": "devhost.testing.orchestrator",
    "OrchestrationResult": "devhost.testing.orchestrator",
    "OrchestrationStuckError": "devhost.testing.orchestrator",
    "UnsupportedInUnitRunError": "devhost.testing.orchestrator",
    "DurableHost": "devhost.testing.durable_host",
    "DurableHostError": "devhost.testing.durable_host",
    "HttpResult": "devhost.testing.durable_host",
}

__all__ = [
    "DurableHost",
    "DurableHostError",
    "HttpResult",
    "OrchestrationResult",
    "OrchestrationStuckError",
    "UnsupportedInUnitRunError",
    "run_orchestrator",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'devhost.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
