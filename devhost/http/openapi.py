"""OpenAPI 3.0 descriptions of what a port serves, generated from its route tables (nothing hand-listed
but the query parameters aiohttp routes cannot tell): GET /openapi.json on the functions port and on the
dashboard port. Fuzzers and clients read them; they follow the routes as they are registered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

import devhost
from devhost.triggers.http import HttpRouter

OPENAPI_PATH = "/openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")
_BODY_METHODS = frozenset({"post", "put", "patch"})
_PARAM = re.compile(r"\{([^}]+)\}")
#: Route-value constraints of HTTP trigger templates that map onto a JSON schema type.
_CONSTRAINT_TYPES = {"int": "integer", "long": "integer", "float": "number", "double": "number", "bool": "boolean"}
#: Query parameters of routes, by (path suffix, method): aiohttp routes declare only their path parameters.
QUERY_PARAMETERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("/instances", "get"): (
        "top",
        "runtimeStatus",
        "createdTimeFrom",
        "createdTimeTo",
        "instanceIdPrefix",
        "showInput",
    ),
    ("/instances/{instanceId}", "get"): ("showHistory", "showHistoryOutput", "showInput", "timeout"),
    ("/instances/{instanceId}/{operation}", "post"): ("reason", "newInstanceId"),
    ("/entities/{entityName}/{entityKey}", "post"): ("op",),
    ("/api/overview", "get"): ("window", "bucket"),
}


def _operation(summary: str | None, path_params: list[str], method: str, path: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in path_params
    ]
    for (suffix, verb), names in QUERY_PARAMETERS.items():
        if verb == method and path.rstrip("/").endswith(suffix):
            parameters += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]
            break
    operation: dict[str, Any] = {"summary": summary or f"{method.upper()} {path}", "responses": {"default": {}}}
    if parameters:
        operation["parameters"] = parameters
    if method in _BODY_METHODS:
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
    return operation


def _walk(app: web.Application) -> Iterator[tuple[str, str, Any]]:
    """(path template, lower-case method, handler) of every route, sub-applications included."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a sub-application: its resources already carry the mount prefix
            yield from _walk(info["app"])
            continue
        template = info.get("path") or info.get("formatter")
        if template is None or "{tail}" in template:  # static folders and catch-alls describe nothing
            continue
        for route in resource:
            method = route.method.lower()
            if method in _METHODS:
                yield template, method, route.handler


def _summary(handler: Any) -> str | None:
    doc = getattr(handler, "__doc__", None) or getattr(getattr(handler, "__func__", None), "__doc__", None)
    return doc.strip().splitlines()[0] if doc else None


def describe_app(app: web.Application, title: str, *, skip_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """An OpenAPI document of an aiohttp application's routes (sub-applications included)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler in _walk(app):
        if path.startswith(skip_prefixes) or path == OPENAPI_PATH:
            continue
        params = _PARAM.findall(path)
        paths.setdefault(path, {})[method] = _operation(_summary(handler), params, method, path)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": devhost.__version__},
        "paths": dict(sorted(paths.items())),
    }


def describe_http_functions(document: dict[str, Any], router: HttpRouter) -> dict[str, Any]:
    """Add the app's HTTP-triggered functions (/api/...) to a document, from their route templates."""
    for route in router.routes:
        path = router.url_path(route)
        parameters = []
        for param in route.template.params:
            shown = "{" + param.name + "}"
            path = re.sub(r"\{\*?" + re.escape(param.name) + r"[^}]*\}", shown, path)
            kind = next((_CONSTRAINT_TYPES[c] for c in param.constraints if c in _CONSTRAINT_TYPES), "string")
            parameters.append({"name": param.name, "in": "path", "required": True, "schema": {"type": kind}})
        for method in sorted(m.lower() for m in route.methods if m.lower() in _METHODS):
            operation: dict[str, Any] = {
                "summary": route.function.summary or route.function.name,
                "operationId": f"{route.function.name}_{method}",
                "responses": {"default": {}},
            }
            if parameters:
                operation["parameters"] = parameters
            if method in _BODY_METHODS:
                operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
            document["paths"].setdefault(path, {})[method] = operation
    document["paths"] = dict(sorted(document["paths"].items()))
    return document
