"""Every use the worker makes of what azure-functions and azure-functions-durable do not publish, checked here.

* ``azure.functions._durable_functions``: OrchestrationContext (how the Python worker hands a context's JSON
  to the SDK's orchestrator handle) and df_dumps/df_loads (how it converts activity inputs and results,
  custom classes with to_json/from_json included). The real worker uses the same module. azure-functions
  before df_dumps/df_loads (1.18.0 and 1.24.0 were checked) converts in its ActivityTriggerConverter with
  json and the module's _serialize_custom_object/_deserialize_custom_object hooks, and so does the worker
  there. Without any of them, the handle gets the JSON text itself (it accepts that) and values go through
  plain json; log_fences() says so.
* sdk_speedups.py's shortcuts in azure-functions-durable's parsing (its timestamp parser and the kept
  history), switched on only for the versions in VERIFIED, and only when their own checks pass.

log_fences() logs one line per fence that is down, once, at the worker's start.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: The versions the shortcuts and private imports were verified on: the pins in requirements.txt, and
#: azure-functions-durable 1.5.0, whose history/HistoryEvent.py, DurableOrchestrationStatus's dt_parse uses
#: and DurableOrchestrationContext.__init__/from_json are the same code as 1.7.0's (compared side by side;
#: tests/e2e/install runs an app pinned to it with the shortcuts on). 1.2.9's context has no version
#: (_extract_version_from_history), so the kept history does not apply to it; it runs the stock path.
VERIFIED: dict[str, frozenset[str]] = {
    "azure-functions": frozenset({"1.26.0"}),
    "azure-functions-durable": frozenset({"1.5.0", "1.7.0"}),
}

df_dumps: Callable[[Any], str]
df_loads: Callable[[str], Any]
_OrchestrationContext: Callable[[str], Any] | None
try:
    from azure.functions._durable_functions import OrchestrationContext as _OrchestrationContext
except ImportError:  # only on azure-functions versions without the module
    _OrchestrationContext = None
try:
    from azure.functions._durable_functions import df_dumps, df_loads

    HAS_DURABLE_CONVERTERS = True
except ImportError:
    try:  # azure-functions up to 1.25: what its ActivityTriggerConverter does
        from azure.functions._durable_functions import _deserialize_custom_object, _serialize_custom_object

        HAS_DURABLE_CONVERTERS = True

        def df_dumps(value: Any) -> str:
            return json.dumps(value, default=_serialize_custom_object)

        def df_loads(text: str) -> Any:
            return json.loads(text, object_hook=_deserialize_custom_object)

    except ImportError:
        HAS_DURABLE_CONVERTERS = False

        def df_dumps(value: Any) -> str:
            return json.dumps(value)

        def df_loads(text: str) -> Any:
            return json.loads(text)


def orchestration_context(body: str) -> Any:
    """What the Python worker passes an orchestrator handle: OrchestrationContext(body), or the body itself."""
    return body if _OrchestrationContext is None else _OrchestrationContext(body)


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def is_verified(distribution: str) -> bool:
    """True when the installed version of distribution is one devhost verified its uses of internals on."""
    return installed_version(distribution) in VERIFIED.get(distribution, frozenset())


def log_fences(speedups_missing: list[str]) -> None:
    """One line for each fence that is down: a private import missing, or shortcuts left off."""
    if not HAS_DURABLE_CONVERTERS:
        log.warning(
            "azure-functions %s has no azure.functions._durable_functions: orchestrator contexts are passed as "
            "JSON text and activity values converted with json (custom classes with to_json are not).",
            installed_version("azure-functions"),
        )
    if not is_verified("azure-functions-durable"):
        verified = ", ".join(sorted(VERIFIED["azure-functions-durable"]))
        log.info(
            "azure-functions-durable %s: devhost's replay shortcuts are verified on %s only, so the SDK's own "
            "code parses every episode's whole history (slower replay, same results).",
            installed_version("azure-functions-durable"),
            verified,
        )
    elif speedups_missing:
        log.info(
            "azure-functions-durable %s: %s left off (this installation's SDK differs from what devhost checked); "
            "the SDK's own code runs there.",
            installed_version("azure-functions-durable"),
            " and ".join(speedups_missing),
        )
