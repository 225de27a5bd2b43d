"""The messages host and worker exchange (one JSON object per frame, ``type`` names the kind).

Worker -> host:
* ``indexed``: the app imported; ``functions`` lists FunctionMetadata, ``pid`` the worker's process id.
* ``load_error``: importing or indexing the app failed; ``message`` has the traceback.
* ``response``: the answer to request ``id``: ``ok`` true with the kind's result fields, or false with
  ``error`` (ErrorInfo).
* ``log``: a log record of user code (``level``, ``logger``, ``message``, ``invocation_id``).

Host -> worker (each carries ``id``, ``function`` and ``invocation_id``):
* ``invoke``: a triggered function (http, queue, timer): ``trigger`` (the trigger's data), ``inputs``
  (input binding values by binding name) -> ``return`` and ``outputs`` (TypedValues by binding name).
* ``orchestrate``: one orchestrator episode: ``context`` (the SDK's context JSON text, the whole
  history) -> ``result`` (OrchestratorState JSON text) or ``error`` (the text the SDK's handle raised).
* ``activity``: ``input`` (JSON text) -> ``result`` (JSON text), or ``error`` with reason and details.
* ``entity``: ``request`` (batch request JSON text) -> ``result`` (batch response JSON text).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

#: Request kinds.
INVOKE = "invoke"
ORCHESTRATE = "orchestrate"
ACTIVITY = "activity"
ENTITY = "entity"
#: Worker messages.
INDEXED = "indexed"
LOAD_ERROR = "load_error"
RESPONSE = "response"
LOG = "log"

ParameterKindName = Literal["trigger", "input", "output", "durableClient", "context"]


class ParameterMetadata(TypedDict):
    """A parameter of a user function and the binding that fills it (None for ``context``)."""

    name: str
    kind: ParameterKindName
    binding: str | None


class FunctionMetadata(TypedDict):
    """What the worker tells the host about one function (the host indexes and validates bindings)."""

    name: str
    #: The function's bindings as the SDK writes them into function.json (``get_raw_bindings``), parsed.
    bindings: list[dict[str, Any]]
    is_async: bool
    parameters: list[ParameterMetadata]
    #: The first line of the user function's docstring ("" when it has none).
    summary: str


class ErrorInfo(TypedDict, total=False):
    """A failed request: the exception's type name and message, its traceback, and (activities) the
    reason and details the orchestrator sees."""

    type: str
    message: str
    traceback: str
    reason: str
    details: str
