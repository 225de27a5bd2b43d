"""A typed index of the app's functions, validated against what the local host supports."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devhost.config import resolve_setting_refs
from devhost.errors import AppLoadError, ConfigError
from devhost.protocol.messages import FunctionMetadata

RETURN = "$return"
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class TriggerKind(enum.StrEnum):
    """Trigger types the local host runs."""

    HTTP = "httpTrigger"
    QUEUE = "queueTrigger"
    BLOB = "blobTrigger"
    TIMER = "timerTrigger"
    ORCHESTRATION = "orchestrationTrigger"
    ACTIVITY = "activityTrigger"
    ENTITY = "entityTrigger"

    @property
    def is_durable(self) -> bool:
        """Orchestrator, activity and entity functions are run by the durable engine, not by triggers."""
        return self in (TriggerKind.ORCHESTRATION, TriggerKind.ACTIVITY, TriggerKind.ENTITY)


#: Non-trigger bindings by type, with the directions we support for each.
SUPPORTED_BINDINGS: Mapping[str, frozenset[str]] = {
    "http": frozenset({"out"}),
    "queue": frozenset({"out"}),
    "table": frozenset({"in", "out"}),
    "blob": frozenset({"in", "out"}),
    "durableClient": frozenset({"in"}),
}
#: Binding types that talk to Azure Storage through a `connection` app setting.
STORAGE_BINDINGS = frozenset({"queue", "queueTrigger", "table", "blob", "blobTrigger"})
#: The blobTrigger source the host runs when none is set, and the only one devhost runs.
BLOB_POLLING_SOURCE = "LogsAndContainerScan"


class ParameterKind(enum.Enum):
    """What the invoker passes for a parameter."""

    TRIGGER = "trigger"
    INPUT = "input"
    OUTPUT = "output"
    DURABLE_CLIENT = "durableClient"
    CONTEXT = "context"


@dataclass(frozen=True)
class BindingInfo:
    """One binding of a function: its JSON settings with %app setting% references resolved."""

    name: str
    type: str
    direction: str  # "in", "out" or "inout"
    settings: Mapping[str, Any]
    #: The storage connection string for queue/table/blob bindings, None for others.
    connection_string: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """A setting by name, case-insensitively (function.json keys are)."""
        for k, v in self.settings.items():
            if k.lower() == key.lower():
                return v
        return default


@dataclass(frozen=True)
class ParameterInfo:
    """A parameter of the user function and where its value comes from (the worker converts it)."""

    name: str
    kind: ParameterKind
    binding: BindingInfo | None


@dataclass(frozen=True)
class IndexedFunction:
    """A function of the app, ready to be triggered."""

    name: str
    kind: TriggerKind
    trigger: BindingInfo
    bindings: tuple[BindingInfo, ...]
    parameters: tuple[ParameterInfo, ...]
    #: The bindings as the SDK wrote them (function.json's "bindings"), unresolved.
    raw_bindings: tuple[Mapping[str, Any], ...]
    is_async: bool
    #: The first line of the user function's docstring.
    summary: str = ""

    @property
    def return_binding(self) -> BindingInfo | None:
        """The `$return` output binding, if any."""
        return next((b for b in self.bindings if b.name == RETURN), None)

    def parameter_for(self, binding: BindingInfo) -> ParameterInfo | None:
        """The parameter bound to binding, or None ($return)."""
        return next((p for p in self.parameters if p.binding is binding), None)


@dataclass(frozen=True)
class FunctionIndex:
    """All functions of the app, by name (case-insensitive)."""

    functions: tuple[IndexedFunction, ...]
    _by_name: Mapping[str, IndexedFunction] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> IndexedFunction | None:
        """A function by name, case-insensitively."""
        return self._by_name.get(name.lower())

    def of_kind(self, kind: TriggerKind) -> list[IndexedFunction]:
        """Functions with that trigger kind, in declaration order."""
        return [f for f in self.functions if f.kind is kind]


def resolve_connection(setting_name: str | None, settings: Mapping[str, str]) -> str | None:
    """The connection string named by a binding's `connection` (AzureWebJobs<name> is tried as well)."""
    name = setting_name or DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate)
        if value:
            return value
    return None


def build_index(functions: Sequence[FunctionMetadata], settings: Mapping[str, str]) -> FunctionIndex:
    """Index and validate every function the worker reported; AppLoadError naming the function and binding."""
    indexed: list[IndexedFunction] = []
    seen: dict[str, str] = {}
    for function in functions:
        entry = _index_function(function, settings)
        key = entry.name.lower()
        if key in seen:
            raise AppLoadError(
                f"functions {seen[key]!r} and {entry.name!r} differ only in case; Functions names are "
                "case-insensitive, rename one (@app.function_name)"
            )
        seen[key] = entry.name
        indexed.append(entry)
    return FunctionIndex(functions=tuple(indexed), _by_name={f.name.lower(): f for f in indexed})


def _index_function(function: FunctionMetadata, settings: Mapping[str, str]) -> IndexedFunction:
    name = function["name"]
    bindings = [_binding_info(name, raw, settings) for raw in function["bindings"]]
    triggers = [b for b in bindings if b.type.endswith("Trigger")]
    if len(triggers) != 1:
        raise AppLoadError(f"function {name!r}: expected exactly one trigger, found {len(triggers)}")
    trigger = triggers[0]
    try:
        kind = TriggerKind(trigger.type)
    except ValueError:
        supported = ", ".join(k.value for k in TriggerKind)
        raise AppLoadError(
            f"function {name!r}: trigger {trigger.name!r} of type {trigger.type!r} is not supported by the local "
            f"host (supported triggers: {supported})"
        ) from None
    others = [b for b in bindings if b is not trigger]
    for binding in others:
        directions = SUPPORTED_BINDINGS.get(binding.type)
        if directions is None:
            supported = ", ".join(SUPPORTED_BINDINGS)
            raise AppLoadError(
                f"function {name!r}: binding {binding.name!r} of type {binding.type!r} is not supported by the "
                f"local host (supported bindings: {supported})"
            )
        if binding.direction not in directions:
            raise AppLoadError(
                f"function {name!r}: binding {binding.name!r} of type {binding.type!r} cannot have direction "
                f"{binding.direction!r} (allowed: {', '.join(sorted(directions))})"
            )
        if binding.type == "http" and kind is not TriggerKind.HTTP:
            raise AppLoadError(f"function {name!r}: an http output binding needs an httpTrigger")
    _check_settings(name, trigger, others)
    by_name = {b.name: b for b in bindings}
    parameters = tuple(
        ParameterInfo(
            p["name"],
            ParameterKind(p["kind"]),
            None if p["binding"] is None else by_name.get(p["binding"]),
        )
        for p in function["parameters"]
    )
    return IndexedFunction(
        name=name,
        kind=kind,
        trigger=trigger,
        bindings=tuple(others),
        parameters=parameters,
        raw_bindings=tuple(function["bindings"]),
        is_async=function["is_async"],
        summary=function.get("summary", ""),
    )


def _binding_info(function_name: str, data: Mapping[str, Any], settings: Mapping[str, str]) -> BindingInfo:
    binding_name = str(data.get("name", ""))
    binding_type = str(data.get("type", ""))
    direction = str(data.get("direction", "IN")).lower()
    resolved: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str) and key not in ("name", "type", "direction"):
            try:
                value = resolve_setting_refs(value, settings, f"function {function_name!r}, binding {binding_name!r}")
            except ConfigError as exc:
                raise AppLoadError(str(exc)) from None
        resolved[key] = value
    connection_string = None
    if binding_type in STORAGE_BINDINGS:
        connection_setting = resolved.get("connection") or None
        connection_string = resolve_connection(connection_setting, settings)
        if connection_string is None:
            setting = connection_setting or DEFAULT_CONNECTION
            raise AppLoadError(
                f"function {function_name!r}, binding {binding_name!r}: the storage connection app setting "
                f'{setting!r} is not set; add it to local.settings.json Values (e.g. "UseDevelopmentStorage=true")'
            )
    return BindingInfo(binding_name, binding_type, direction, resolved, connection_string)


def _check_settings(name: str, trigger: BindingInfo, others: list[BindingInfo]) -> None:
    """Settings each supported binding needs, checked now rather than at the first invocation."""
    required = {
        "queueTrigger": ("queueName",),
        "queue": ("queueName",),
        "table": ("tableName",),
        "blob": ("path",),
        "blobTrigger": ("path",),
        "timerTrigger": ("schedule",),
    }
    for binding in (trigger, *others):
        for key in required.get(binding.type, ()):
            if not binding.get(key):
                raise AppLoadError(f"function {name!r}: binding {binding.name!r} ({binding.type}) needs {key!r}")
        if binding.type == "blob" and "/" not in str(binding.get("path")).strip("/"):
            raise AppLoadError(
                f"function {name!r}: blob binding {binding.name!r} path {binding.get('path')!r} must be "
                '"container/blob-name"'
            )
        if binding.type == "blobTrigger":
            _check_blob_source(name, binding)
        if binding.type == "table" and binding.direction == "in":
            take = binding.get("take")
            if take is not None and (isinstance(take, bool) or not isinstance(take, int) or take < 1):
                raise AppLoadError(f"function {name!r}: table binding {binding.name!r} take must be a positive integer")


def _check_blob_source(name: str, trigger: BindingInfo) -> None:
    """Only the polling source runs locally: EventGrid needs a subscription delivering to a public webhook."""
    source = trigger.get("source")
    if source in (None, "") or str(source).lower() == BLOB_POLLING_SOURCE.lower():
        return
    if str(source).lower() == "eventgrid":
        raise AppLoadError(
            f'function {name!r}: blob trigger {trigger.name!r} has source="EventGrid", which needs an Event Grid '
            f"subscription delivering blob events to the host's webhook; devhost runs the polling source "
            f"({BLOB_POLLING_SOURCE}), the host's default: remove source= from @app.blob_trigger (or set "
            "source=func.BlobSource.LOGS_AND_CONTAINER_SCAN) to run this function locally"
        )
    raise AppLoadError(
        f"function {name!r}: blob trigger {trigger.name!r} has an unknown source {source!r}; use "
        f"{BLOB_POLLING_SOURCE} (the default) or EventGrid"
    )
