"""Import DIR/function_app.py and describe its functions, the way the Python worker indexes a v2 app."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions import FunctionRegister
from azure.functions.decorators.function_app import Function

from devhost.protocol.messages import FunctionMetadata, ParameterKindName, ParameterMetadata

#: The worker's default script name (PYTHON_SCRIPT_FILE_NAME overrides it, as in Azure).
DEFAULT_SCRIPT = "function_app.py"
RETURN = "$return"
CONTEXT_PARAMETER = "context"
DURABLE_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})


class IndexingError(Exception):
    """The app cannot be imported or one of its functions cannot be indexed (a function load error)."""


@dataclass(frozen=True)
class WorkerFunction:
    """A function as the worker runs it."""

    name: str
    bindings: list[dict[str, Any]]
    user_function: Callable[..., Any]
    is_async: bool
    #: Parameter name -> (kind, binding); empty for durable functions (the worker calls them its own way).
    parameters: dict[str, tuple[ParameterKindName, dict[str, Any] | None]]
    #: Annotation by parameter name, func.Out[...] unwrapped (None when unannotated).
    annotations: dict[str, Any]

    @property
    def trigger(self) -> dict[str, Any]:
        """The trigger binding."""
        return next(b for b in self.bindings if str(b.get("type", "")).endswith("Trigger"))

    def metadata(self) -> FunctionMetadata:
        """What the host is told about the function."""
        parameters = [
            ParameterMetadata(name=name, kind=kind, binding=None if binding is None else str(binding.get("name")))
            for name, (kind, binding) in self.parameters.items()
        ]
        doc = inspect.getdoc(self.user_function) or ""
        summary = doc.strip().splitlines()[0] if doc.strip() else ""
        return FunctionMetadata(
            name=self.name, bindings=self.bindings, is_async=self.is_async, parameters=parameters, summary=summary
        )


def load_functions(app_dir: Path, script_name: str = DEFAULT_SCRIPT) -> list[WorkerFunction]:
    """Import the app with app_dir first on sys.path and index its functions (get_functions() once)."""
    module = _import_app(app_dir.resolve(), script_name)
    script = app_dir.resolve() / script_name
    app = _find_app(module, script)
    try:
        # get_functions() validates names and may only be called once per instance (it remembers names).
        functions = list(app.get_functions())
    except Exception as exc:
        raise IndexingError(f"{script}: indexing the functions failed: {exc}") from exc
    return index_functions(functions)


def index_functions(functions: list[Function]) -> list[WorkerFunction]:
    """The worker's view of the SDK's functions (IndexingError for a parameter without a binding, ...)."""
    return [_index(function) for function in functions]


def _import_app(app_dir: Path, script_name: str) -> ModuleType:
    script = app_dir / script_name
    if not script.is_file():
        raise IndexingError(
            f"{script}: not found; the v2 programming model needs a {script_name} defining a FunctionApp"
        )
    # The app folder goes first so the app's own modules (blueprints, helpers) win over anything else.
    if str(app_dir) in sys.path:
        sys.path.remove(str(app_dir))
    sys.path.insert(0, str(app_dir))
    importlib.invalidate_caches()
    try:
        return importlib.import_module(script.stem)
    except BaseException as exc:
        details = "".join(traceback.format_exception(exc)).rstrip()
        raise IndexingError(f"{script}: importing the app failed:\n{details}") from None


def _find_app(module: ModuleType, script: Path) -> FunctionRegister:
    found: list[tuple[str, FunctionRegister]] = []
    for name in dir(module):
        value = getattr(module, name, None)
        if isinstance(value, FunctionRegister) and all(value is not other for _, other in found):
            found.append((name, value))
    if not found:
        raise IndexingError(
            f"{script}: no FunctionApp instance found at module level; create one, e.g. app = func.FunctionApp()"
        )
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        raise IndexingError(
            f"{script}: more than one FunctionApp instance at module level ({names}); keep one and register "
            "the others' functions as Blueprints with app.register_functions(bp)"
        )
    return found[0][1]


def _index(function: Function) -> WorkerFunction:
    name = function.get_function_name() or function.get_user_function().__name__
    bindings = [dict(json.loads(raw)) for raw in function.get_raw_bindings()]
    user_function = function.get_user_function()
    trigger_types = [str(b.get("type", "")) for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    parameters: dict[str, tuple[ParameterKindName, dict[str, Any] | None]] = {}
    annotations: dict[str, Any] = {}
    if len(trigger_types) == 1 and trigger_types[0] not in DURABLE_TRIGGERS:
        parameters, annotations = _parameters(name, user_function, bindings)
    return WorkerFunction(
        name=name,
        bindings=bindings,
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        parameters=parameters,
        annotations=annotations,
    )


def _parameters(
    name: str, user_function: Callable[..., Any], bindings: list[dict[str, Any]]
) -> tuple[dict[str, tuple[ParameterKindName, dict[str, Any] | None]], dict[str, Any]]:
    try:
        signature = inspect.signature(user_function)
        hints = _type_hints(user_function)
    except (TypeError, ValueError) as exc:
        raise IndexingError(f"function {name!r}: cannot read its signature: {exc}") from exc
    by_name = {str(b.get("name")): b for b in bindings if b.get("name") != RETURN}
    parameters: dict[str, tuple[ParameterKindName, dict[str, Any] | None]] = {}
    annotations: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise IndexingError(f"function {name!r}: *args/**kwargs parameters are not supported")
        annotation = hints.get(param.name, None)
        binding = by_name.pop(param.name, None)
        if binding is None:
            if param.name == CONTEXT_PARAMETER:
                parameters[param.name] = ("context", None)
                continue
            if param.default is not param.empty:
                continue
            raise IndexingError(
                f"function {name!r}: parameter {param.name!r} has no binding; add a binding decorator with "
                f"arg_name={param.name!r} or remove the parameter"
            )
        binding_type = str(binding.get("type", ""))
        direction = str(binding.get("direction", "IN")).lower()
        kind: ParameterKindName
        if binding_type.endswith("Trigger"):
            kind = "trigger"
        elif binding_type == "durableClient":
            kind = "durableClient"
        elif direction == "out":
            kind = "output"
            annotation = _unwrap_out(name, param.name, annotation)
        else:
            kind = "input"
        parameters[param.name] = (kind, binding)
        annotations[param.name] = annotation
    if by_name:
        missing = ", ".join(sorted(by_name))
        raise IndexingError(
            f"function {name!r}: binding(s) {missing} have no matching parameter; the arg_name of each binding "
            "must be a parameter of the function"
        )
    return parameters, annotations


def _type_hints(user_function: Callable[..., Any]) -> dict[str, Any]:
    target = inspect.unwrap(user_function)
    try:
        return typing.get_type_hints(target)
    except Exception:
        # Unresolvable string annotations: fall back to the raw ones (the Python worker does the same).
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
    raise IndexingError(
        f"function {function_name!r}: parameter {param_name!r} is an output binding, so annotate it as "
        f"func.Out[...] (got {annotation!r})"
    )
