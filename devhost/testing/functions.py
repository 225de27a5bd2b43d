"""What a test hands run_orchestrator (decorated functions from function_app.py, or plain ones), unwrapped.

The v2 programming model's decorators return an ``azure.functions`` FunctionBuilder; an orchestrator's
builder wraps the SDK's handle (``Orchestrator.create(fn)``), which keeps the generator function as
``orchestrator_function``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.durable_functions import Orchestrator


class NotAnOrchestratorError(TypeError):
    """run_orchestrator was given something that is not an orchestrator function."""


@dataclass(frozen=True)
class Orchestration:
    """An orchestrator ready to replay: its name and the SDK handle that takes a context's JSON."""

    name: str
    handle: Callable[[Any], str]


@dataclass(frozen=True)
class Activity:
    """An activity as run_orchestrator calls it: with the input as positional or keyword argument."""

    name: str
    function: Callable[..., Any]
    #: The activityTrigger's parameter name (decorated activities take their input by that keyword).
    input_name: str | None = None

    def __call__(self, value: Any) -> Any:
        if self.input_name is not None:
            return self.function(**{self.input_name: value})
        return self.function(value)


def _builder_function(candidate: Any) -> Any | None:
    """The azure.functions Function behind a FunctionBuilder (what the v2 decorators return), or None."""
    function = getattr(candidate, "_function", None)
    return function if function is not None and hasattr(function, "get_user_function") else None


def orchestration(candidate: Any) -> Orchestration:
    """Unwrap an orchestrator: a decorated one, the SDK handle, or the plain generator function."""
    built = _builder_function(candidate)
    if built is not None:
        trigger = built.get_trigger()
        if getattr(trigger, "type", None) != "orchestrationTrigger":
            raise NotAnOrchestratorError(
                f"'{built.get_function_name()}' is not an orchestrator (its trigger is "
                f"{getattr(trigger, 'type', 'unknown')}): pass a function decorated with @app.orchestration_trigger"
            )
        return Orchestration(built.get_function_name(), built.get_user_function())
    inner = getattr(candidate, "orchestrator_function", None)
    if inner is not None:  # the SDK's handle itself
        return Orchestration(inner.__name__, candidate)
    if inspect.isgeneratorfunction(candidate):
        return Orchestration(candidate.__name__, Orchestrator.create(candidate))
    raise NotAnOrchestratorError(
        f"{candidate!r} is not an orchestrator: pass the function decorated with @app.orchestration_trigger "
        "(as imported from function_app.py) or a generator function taking the orchestration context"
    )


def activity(name: str, candidate: Any) -> Activity:
    """Unwrap an activity: a decorated one (called with its trigger's keyword) or any callable."""
    built = _builder_function(candidate)
    if built is not None:
        trigger = built.get_trigger()
        return Activity(name, built.get_user_function(), getattr(trigger, "name", None))
    if not callable(candidate):
        raise TypeError(f"activities[{name!r}] must be a callable (or a decorated activity), not {candidate!r}")
    return Activity(name, candidate)
