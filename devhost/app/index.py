"""A typed index of the app's functions, validated against what the local host supports."""

from __future__ import annotations

import enum
import inspect
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

from devhost.config import resolve_setting_refs
from devhost.errors import AppLoadError, ConfigError

RETURN = "$return"
CONTEXT_PARAMETER = "context"
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class TriggerKind(enum.StrEnum):
    """Trigger types the local host runs."""

    HTTP = "httpTrigger"
    QUEUE = "queueTrigger"
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
STORAGE_BINDINGS = frozenset({"queue", "queueTrigger", "table", "blob"})


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
    """A parameter of the user function and where its value comes from."""

    name: str
    kind: ParameterKind
    #: The annotation with func.Out[...] unwrapped; None when unannotated.
    annotation: Any
    binding: BindingInfo | None


@dataclass(frozen=True)
class IndexedFunction:
    """A function of the app, ready to be triggered."""

    name: str
    kind: TriggerKind
    trigger: BindingInfo
    bindings: tuple[BindingInfo, ...]
    parameters: tuple[ParameterInfo, ...]
    user_function: Callable[..., Any]
    function: Function
    directory: Path
    is_async: bool

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

    @property
    def sdk_functions(self) -> list[Function]:
        """The SDK Function objects (what the durable adapters are built from)."""
        return [f.function for f in self.functions]


def resolve_connection(setting_name: str | None, settings: Mapping[str, str]) -> str | None:
    """The connection string named by a binding's `connection` (AzureWebJobs<name> is tried as well)."""
    name = setting_name or DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate)
        if value:
            return value
    return None


def build_index(functions: Sequence[Function], settings: Mapping[str, str], app_dir: Path) -> FunctionIndex:
    """Index and validate every function; raise AppLoadError naming the function and binding at fault."""
    indexed: list[IndexedFunction] = []
    seen: dict[str, str] = {}
    for function in functions:
        entry = _index_function(function, settings, app_dir)
        key = entry.name.lower()
        if key in seen:
            raise AppLoadError(
                f"functions {seen[key]!r} and {entry.name!r} differ only in case; Functions names are "
                "case-insensitive, rename one (@app.function_name)"
            )
        seen[key] = entry.name
        indexed.append(entry)
    return FunctionIndex(functions=tuple(indexed), _by_name={f.name.lower(): f for f in indexed})


def _index_function(function: Function, settings: Mapping[str, str], app_dir: Path) -> IndexedFunction:
    name = function.get_function_name() or function.get_user_function().__name__
    bindings = [_binding_info(name, raw, settings) for raw in function.get_raw_bindings()]
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
    user_function = function.get_user_function()
    parameters = () if kind.is_durable else _parameters(name, user_function, trigger, others)
    return IndexedFunction(
        name=name,
        kind=kind,
        trigger=trigger,
        bindings=tuple(others),
        parameters=parameters,
        user_function=user_function,
        function=function,
        directory=app_dir,
        is_async=inspect.iscoroutinefunction(user_function),
    )


def _binding_info(function_name: str, raw: str, settings: Mapping[str, str]) -> BindingInfo:
    data = json.loads(raw)
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
        if binding.type == "table" and binding.direction == "in":
            take = binding.get("take")
            if take is not None and (isinstance(take, bool) or not isinstance(take, int) or take < 1):
                raise AppLoadError(f"function {name!r}: table binding {binding.name!r} take must be a positive integer")


def _parameters(
    name: str, user_function: Callable[..., Any], trigger: BindingInfo, others: list[BindingInfo]
) -> tuple[ParameterInfo, ...]:
    try:
        signature = inspect.signature(user_function)
        hints = _type_hints(user_function)
    except (TypeError, ValueError) as exc:
        raise AppLoadError(f"function {name!r}: cannot read its signature: {exc}") from exc
    by_name = {b.name: b for b in (trigger, *others) if b.name != RETURN}
    parameters: list[ParameterInfo] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise AppLoadError(f"function {name!r}: *args/**kwargs parameters are not supported")
        annotation = hints.get(param.name, None)
        binding = by_name.pop(param.name, None)
        if binding is None:
            if param.name == CONTEXT_PARAMETER:
                parameters.append(ParameterInfo(param.name, ParameterKind.CONTEXT, annotation, None))
                continue
            if param.default is not param.empty:
                continue
            raise AppLoadError(
                f"function {name!r}: parameter {param.name!r} has no binding; add a binding decorator with "
                f"arg_name={param.name!r} or remove the parameter"
            )
        if binding is trigger:
            kind = ParameterKind.TRIGGER
        elif binding.type == "durableClient":
            kind = ParameterKind.DURABLE_CLIENT
        elif binding.direction == "out":
            kind = ParameterKind.OUTPUT
            annotation = _unwrap_out(name, param.name, annotation)
        else:
            kind = ParameterKind.INPUT
        parameters.append(ParameterInfo(param.name, kind, annotation, binding))
    if by_name:
        missing = ", ".join(sorted(by_name))
        raise AppLoadError(
            f"function {name!r}: binding(s) {missing} have no matching parameter; the arg_name of each binding "
            "must be a parameter of the function"
        )
    return tuple(parameters)


def _type_hints(user_function: Callable[..., Any]) -> dict[str, Any]:
    target = inspect.unwrap(user_function)
    try:
        return typing.get_type_hints(target)
    except Exception:
        # Unresolvable string annotations: fall back to the raw ones (the worker does the same).
        return dict(getattr(target, "__annotations__", {}))


def _unwrap_out(function_name: str, param_name: str, annotation: Any) -> Any:
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin is not None and isinstance(origin, type) and issubclass(origin, func.Out):
        args = typing.get_args(annotation)
        return args[0] if args else None
    if isinstance(annotation, type) and issubclass(annotation, func.Out):
        return None
    raise AppLoadError(
        f"function {function_name!r}: parameter {param_name!r} is an output binding, so annotate it as "
        f"func.Out[...] (got {annotation!r})"
    )
