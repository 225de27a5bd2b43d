"""The messages host and worker exchange (one JSON object per frame, ``type`` names the kind).

Worker -> host:
* ``indexed``: the app imported; ``functions`` lists FunctionMetadata, ``pid`` the worker's process id,
  ``keeps_history`` whether it keeps instances' parsed history (``history`` below).
* ``load_error``: importing or indexing the app failed; ``message`` has the traceback.
* ``response``: the answer to request ``id``: ``ok`` true with the kind's result fields, or false with
  ``error`` (ErrorInfo).
* ``log``: a log record of user code (``level``, ``logger``, ``message``, ``invocation_id``).

Host -> worker (each carries ``id``, ``function`` and ``invocation_id``):
* ``invoke``: a triggered function (http, queue, timer): ``trigger`` (the trigger's data), ``inputs``
  (input binding values by binding name) -> ``return`` and ``outputs`` (TypedValues by binding name).
* ``orchestrate``: one orchestrator episode: ``context`` (the SDK's context JSON text) -> ``result``
  (OrchestratorState JSON text) or ``failure`` (the text the SDK's handle raised). Without ``history`` the
  context holds the whole history. With ``history`` (PlayedHistory) it holds this episode's new events only,
  and the earlier episodes' events are the chunks the worker kept for the instance under ``key`` followed by
  ``chunks``; a worker that does not hold ``base`` chunks under that key answers ``history_miss`` true, and
  the host sends the episode again from chunk 0.
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


class PlayedHistory(TypedDict):
    """The earlier episodes' events of an orchestrate request (see ``orchestrate`` above)."""

    key: str
    #: How many chunks the worker already holds under key (0: start over with these chunks).
    base: int
    #: The chunks after those: one episode's events each, comma-joined JSON objects.
    chunks: list[str]


class ErrorInfo(TypedDict, total=False):
    """A failed request: the exception's type name and message, its traceback, and (activities) the
    reason and details the orchestrator sees."""

    type: str
    message: str
    traceback: str
    reason: str
    details: str
