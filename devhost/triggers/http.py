"""HTTP triggers: route templates, request -> func.HttpRequest, func.HttpResponse -> aiohttp response."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from devhost.app.index import IndexedFunction, TriggerKind
from devhost.auth import AuthPolicy, unauthorized
from devhost.bindings.expressions import json_properties
from devhost.errors import AppLoadError
from devhost.triggers.invoke import HOST_API_REASON, InvocationFailed, Invoker, TriggerInput

log = logging.getLogger(__name__)

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
_PARAM = re.compile(r"\{([^{}]*)\}")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class RouteParam:
    """A {name[:constraint...][?|=default]} or {*name} placeholder."""

    name: str
    constraints: tuple[str, ...]
    optional: bool
    default: str | None
    catch_all: bool


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled route template."""

    text: str
    pattern: re.Pattern[str]
    params: tuple[RouteParam, ...]
    #: Sort key: literal routes before parameterised ones, catch-alls last.
    precedence: tuple[int, int, int]

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for path (relative, no leading slash), or None when it does not match."""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, param in enumerate(self.params):
            value = found.group(f"p{index}")
            if value is None or value == "":
                if param.default is not None:
                    values[param.name] = param.default
                elif not (param.optional or param.catch_all):
                    return None
                continue
            if not all(_satisfies(value, c) for c in param.constraints):
                return None
            values[param.name] = value
        return values


_SIMPLE_CONSTRAINTS = {"int", "long", "bool", "float", "double", "decimal", "guid", "alpha", "datetime"}
_ARG_CONSTRAINTS = re.compile(r"^(min|max|minlength|maxlength|length|range)\((-?\d+)(?:,(-?\d+))?\)$", re.IGNORECASE)


def _satisfies(value: str, constraint: str) -> bool:
    name = constraint.lower()
    if name in ("int", "long"):
        return re.fullmatch(r"-?\d+", value) is not None
    if name == "bool":
        return value.lower() in ("true", "false")
    if name in ("float", "double", "decimal"):
        try:
            float(value)
        except ValueError:
            return False
        return True
    if name == "guid":
        return _GUID.match(value) is not None
    if name == "alpha":
        return value.isalpha() and value.isascii()
    if name == "datetime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    match = _ARG_CONSTRAINTS.match(constraint)
    assert match is not None  # validated when the template was compiled
    kind, first, second = match.group(1).lower(), int(match.group(2)), match.group(3)
    if kind in ("min", "max", "range"):
        if re.fullmatch(r"-?\d+", value) is None:
            return False
        number = int(value)
        if kind == "min":
            return number >= first
        if kind == "max":
            return number <= first
        return second is not None and first <= number <= int(second)
    if kind == "minlength":
        return len(value) >= first
    if kind == "maxlength":
        return len(value) <= first
    return len(value) == first if second is None else first <= len(value) <= int(second)


def _parse_param(body: str, template: str) -> RouteParam:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *constraints = body.split(":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"route {template!r}: invalid parameter name {name!r}")
    for constraint in constraints:
        if constraint.lower() not in _SIMPLE_CONSTRAINTS and not _ARG_CONSTRAINTS.match(constraint):
            raise ValueError(
                f"route {template!r}: unsupported constraint {constraint!r} on {{{name}}} "
                f"(supported: {', '.join(sorted(_SIMPLE_CONSTRAINTS))}, min(n), max(n), range(a,b), "
                "minlength(n), maxlength(n), length(n))"
            )
    return RouteParam(name, tuple(constraints), optional, default, catch_all)


def compile_route(template: str) -> RouteTemplate:
    """Compile a Functions route template; raise ValueError explaining what is wrong."""
    text = template.strip().strip("/")
    segments = text.split("/") if text else []
    params: list[RouteParam] = []
    regex = ""
    literal_segments = 0
    for position, segment in enumerate(segments):
        if segment == "":
            raise ValueError(f"route {template!r}: empty segment (double slash)")
        is_last = position == len(segments) - 1
        pieces = _PARAM.split(segment)
        if "{" in "".join(pieces[0::2]) or "}" in "".join(pieces[0::2]):
            raise ValueError(f"route {template!r}: unbalanced braces in segment {segment!r}")
        segment_regex = ""
        optional_segment = False
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                segment_regex += re.escape(piece)
                continue
            param = _parse_param(piece, template)
            if param.name.lower() in (p.name.lower() for p in params):
                raise ValueError(f"route {template!r}: parameter {param.name!r} appears twice")
            if (param.catch_all or param.optional or param.default is not None) and not is_last:
                raise ValueError(f"route {template!r}: {{{piece}}} is only allowed in the last segment")
            group = f"p{len(params)}"
            if param.catch_all:
                segment_regex += f"(?P<{group}>.*)"
            else:
                segment_regex += f"(?P<{group}>[^/]+?)"
            if (param.catch_all or param.optional or param.default is not None) and len(pieces) == 3:
                optional_segment = not pieces[0] and not pieces[2]
            params.append(param)
        if len(pieces) == 1:
            literal_segments += 1
        separator = "/" if position > 0 else ""
        if optional_segment:
            regex += f"(?:{separator}{segment_regex})?"
        else:
            regex += separator + segment_regex
    catch_alls = sum(1 for p in params if p.catch_all)
    precedence = (catch_alls, len(params), -literal_segments)
    return RouteTemplate(text, re.compile(regex, re.IGNORECASE), tuple(params), precedence)


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP-triggered function with its compiled route, methods and auth level."""

    function: IndexedFunction
    template: RouteTemplate
    methods: frozenset[str]
    auth_level: str


def http_route(function: IndexedFunction) -> HttpRoute:
    """The route of an HTTP function; AppLoadError for a bad template or method."""
    trigger = function.trigger
    route = str(trigger.get("route") or function.name)
    try:
        template = compile_route(route)
    except ValueError as exc:
        raise AppLoadError(f"function {function.name!r}: {exc}") from None
    raw_methods = trigger.get("methods")
    methods = frozenset(str(m).upper() for m in raw_methods) if raw_methods else frozenset(ALL_METHODS)
    unknown = methods - set(ALL_METHODS)
    if unknown:
        raise AppLoadError(f"function {function.name!r}: unknown HTTP method(s) {', '.join(sorted(unknown))}")
    auth_level = str(trigger.get("authLevel") or "function").lower()
    if auth_level not in ("anonymous", "function", "admin"):
        raise AppLoadError(f"function {function.name!r}: authLevel {auth_level!r} must be anonymous, function or admin")
    return HttpRoute(function, template, methods, auth_level)


class HttpRouter:
    """Finds the function for a request path (relative to the route prefix) and method."""

    def __init__(self, functions: Sequence[IndexedFunction], route_prefix: str) -> None:
        routes = [http_route(f) for f in functions if f.kind is TriggerKind.HTTP]
        seen: dict[tuple[str, str], str] = {}
        for route in routes:
            for method in route.methods:
                key = (route.template.text.lower(), method)
                if key in seen:
                    raise AppLoadError(
                        f"functions {seen[key]!r} and {route.function.name!r} both serve {method} "
                        f"/{route.template.text}; give one a different route or methods"
                    )
                seen[key] = route.function.name
        self.routes = sorted(routes, key=lambda r: r.template.precedence)
        self.route_prefix = route_prefix.strip("/")

    def url_path(self, route: HttpRoute) -> str:
        """The path users call, e.g. /api/items/{id:int}."""
        parts = [p for p in (self.route_prefix, route.template.text) if p]
        return "/" + "/".join(parts)

    def relative(self, path: str) -> str | None:
        """path without the route prefix, or None when it is outside the prefix."""
        path = path.strip("/")
        if not self.route_prefix:
            return path
        prefix = self.route_prefix.lower()
        if path.lower() == prefix:
            return ""
        if path.lower().startswith(prefix + "/"):
            return path[len(prefix) + 1 :]
        return None

    def match(self, path: str, method: str) -> tuple[HttpRoute, dict[str, str]] | list[str] | None:
        """(route, route values); or the allowed methods when only the method differs; or None."""
        relative = self.relative(path)
        if relative is None:
            return None
        allowed: set[str] = set()
        for route in self.routes:
            values = route.template.match(relative)
            if values is None:
                continue
            if method.upper() in route.methods:
                return route, values
            allowed |= route.methods
        return sorted(allowed) if allowed else None


def _single_values(items: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in items:
        values[key] = ", ".join(items.getall(key))
    return values


def request_data(request: web.Request, body: bytes, route_params: Mapping[str, str]) -> dict[str, Any]:
    """The httpTrigger's data for the worker (absolute URL, headers, query, route params, body)."""
    return {
        "method": request.method,
        "url": str(request.url),
        "headers": _single_values(request.headers),
        "params": {key: request.query.getall(key)[-1] for key in request.query},
        "route_params": dict(route_params),
        "body": base64.b64encode(body).decode("ascii"),
    }


def binding_data(request: web.Request, body: bytes, route_params: Mapping[str, str]) -> dict[str, Any]:
    """Values for binding expressions: route params, query params, JSON body properties, Query.x, Headers.x."""
    query = {key: request.query.getall(key)[-1] for key in request.query}
    data: dict[str, Any] = {}
    data.update(json_properties(body))
    data.update(query)
    data.update(route_params)
    data["Query"] = query
    data["Headers"] = _single_values(request.headers)
    return data


def to_web_response(value: Mapping[str, Any] | None) -> web.StreamResponse:
    """The HTTP output as the worker encoded it: a func.HttpResponse's parts, or a str (None -> 204)."""
    if value is None:
        return web.Response(status=204)
    if "status" not in value:
        return web.Response(status=200, text=str(value.get("text", "")), content_type="text/plain", charset="utf-8")
    headers: CIMultiDict[str] = CIMultiDict()
    for name, header in value.get("headers") or []:
        headers.add(name, header)
    if "content-type" not in headers:
        mimetype = value.get("mimetype") or "text/plain"
        charset = value.get("charset") or "utf-8"
        headers["Content-Type"] = f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=int(value["status"]), body=base64.b64decode(value.get("body") or ""), headers=headers)


def error_response(status: int, message: str, invocation_id: str | None = None) -> web.Response:
    """A JSON error answer (500s carry the invocation id, to find the logged traceback)."""
    body: dict[str, Any] = {"error": message, "status": status}
    if invocation_id is not None:
        body["invocationId"] = invocation_id
    return web.json_response(body, status=status)


class HttpTriggerHandler:
    """The aiohttp handler for every HTTP-triggered function."""

    def __init__(self, router: HttpRouter, invoker: Invoker, policy: AuthPolicy) -> None:
        self.router = router
        self.invoker = invoker
        self.policy = policy

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """Route, authorise, invoke and convert the response."""
        found = self.router.match(request.path, request.method)
        if found is None:
            return error_response(404, f"no function serves {request.path}")
        if isinstance(found, list):
            response = error_response(405, f"{request.method} is not allowed on {request.path}")
            response.headers["Allow"] = ", ".join(found)
            return response
        route, route_params = found
        if not self.policy.allows(request, route.auth_level):
            return unauthorized(route.auth_level)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            return error_response(413, f"request body too large: {exc.text}")
        function = route.function
        trigger = TriggerInput(
            data=request_data(request, body, route_params),
            binding_data=binding_data(request, body, route_params),
            reason=HOST_API_REASON,
            trace_parent=request.headers.get("traceparent"),
            trace_state=request.headers.get("tracestate"),
        )
        try:
            result = await self.invoker.invoke(function, trigger)
        except InvocationFailed as exc:
            return error_response(500, f"function {function.name!r} failed: {exc.cause}", exc.invocation_id)
        return to_web_response(_http_output(function, result.outputs))


def _http_output(function: IndexedFunction, outputs: Mapping[str, Any]) -> Any:
    binding = next((b for b in function.bindings if b.type == "http"), None)
    return outputs.get(binding.name if binding is not None else "$return")
