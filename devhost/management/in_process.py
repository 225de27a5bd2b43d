"""The SDK durable client's starts and status reads, answered in this process instead of over HTTP.

The durableClient binding sends the SDK's DurableOrchestrationClient to this host's RPC mount
(``rpcBaseUrl``). In Azure the Python worker is a separate process and HTTP is the only way across; here
the worker shares the host's process and event loop, so each ``start_new`` or ``get_status`` would go
through an HTTP client and server and a dozen turns of the loop to reach a service one await away. Under
a burst of queue-started orchestrations those two calls were a fifth of the host's CPU.

So the SDK client's request functions are wrapped: a start without wait parameters and a status read
for a mount registered here are answered from the DurableService with the same status codes and bodies
as the RPC routes (routes.py); every other request, and every URL not registered here, goes over HTTP
as before. The SDK still builds the URLs and reads the answers.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from multidict import MultiDict

from devhost.durable.service import DurableService
from devhost.errors import DurableError
from devhost.management.params import parse_bool
from devhost.management.payloads import check_status_payload
from devhost.management.responses import durable_error_answer
from devhost.management.routes import status_answer
from devhost.names import check_path_names

#: The SDK module whose DurableOrchestrationClient takes its request functions from module globals.
_SDK_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"


@dataclass(frozen=True)
class _Mount:
    service: DurableService
    base_url: str
    task_hub: str
    connection_name: str


#: Registered mounts by rpcBaseUrl as the binding hands it to the SDK (ending in "/").
_mounts: dict[str, _Mount] = {}
#: The SDK's own request functions, while ours are installed.
_sdk_functions: dict[str, Any] = {}


def serve_in_process(
    rpc_base_url: str, service: DurableService, task_hub: str, connection_name: str = "Storage"
) -> Callable[[], None]:
    """Answer SDK starts and status reads sent to rpc_base_url from service; returns the function undoing it."""
    prefix = rpc_base_url.rstrip("/") + "/"
    _mounts[prefix] = _Mount(service, prefix.rstrip("/"), task_hub, connection_name)
    _install()

    def stop() -> None:
        _mounts.pop(prefix, None)
        if not _mounts:
            _uninstall()

    return stop


def _install() -> None:
    if _sdk_functions:
        return
    module = importlib.import_module(_SDK_CLIENT_MODULE)
    # The client copies these module globals into each instance it creates, so clients built from now
    # on (one per function invocation) use ours.
    for name, ours in (("get_async_request", _get), ("post_async_request", _post)):
        _sdk_functions[name] = getattr(module, name)
        setattr(module, name, ours)


def _uninstall() -> None:
    module = importlib.import_module(_SDK_CLIENT_MODULE)
    for name, theirs in _sdk_functions.items():
        setattr(module, name, theirs)
    _sdk_functions.clear()


def _split(url: str) -> tuple[_Mount, list[str], MultiDict[str]] | None:
    """The mount a URL is under, its path segments below the mount (decoded) and its query; else None."""
    for prefix, mount in _mounts.items():
        if url.startswith(prefix):
            path, _, query = url[len(prefix) :].partition("?")
            segments = [unquote(segment) for segment in path.split("/")]
            return mount, segments, MultiDict(parse_qsl(query, keep_blank_values=True))
    return None


async def _get(url: str, function_invocation_id: str | None = None) -> list[Any]:
    split = _split(url)
    if split is not None:
        mount, segments, query = split
        if len(segments) == 2 and segments[0] == "instances" and segments[1]:
            return await _status(mount, segments[1], query)
    return list(await _sdk_functions["get_async_request"](url, function_invocation_id))


async def _post(
    url: str,
    data: Any = None,
    trace_parent: str | None = None,
    trace_state: str | None = None,
    function_invocation_id: str | None = None,
) -> list[Any]:
    split = _split(url)
    if split is not None:
        mount, segments, query = split
        # Starts that wait for completion (timeout=...) or carry other options take the HTTP route.
        if not query and len(segments) in (2, 3) and segments[0] == "orchestrators" and all(segments[1:]):
            instance_id = segments[2] if len(segments) == 3 else None
            return await _start(mount, segments[1], instance_id, data)
    sdk_post = _sdk_functions["post_async_request"]
    return list(await sdk_post(url, data, trace_parent, trace_state, function_invocation_id))


async def _status(mount: _Mount, instance_id: str, query: MultiDict[str]) -> list[Any]:
    """GET instances/{id} as the RPC route answers it; an unknown instance is 404 with an empty body."""
    try:
        check_path_names({"instanceId": instance_id})
        answer = await status_answer(
            mount.service,
            instance_id,
            rpc=True,
            show_history=parse_bool(query, "showHistory", False),
            show_output=parse_bool(query, "showHistoryOutput", False),
            show_input=parse_bool(query, "showInput", True),
            fail_500=parse_bool(query, "returnInternalServerErrorOnFailure", False),
        )
    except DurableError as exc:
        status, body = durable_error_answer(exc, rpc=True, sdk_exception_message=False)
        return [status, body]
    # The SDK turns an empty body into "" (a falsy status object).
    return [404, ""] if answer is None else list(answer)


async def _start(mount: _Mount, name: str, instance_id: str | None, data: Any) -> list[Any]:
    """POST orchestrators/{name}[/{id}] as the RPC route answers it: 202 and the check-status payload."""
    # The SDK sends its input as the request's JSON body; the route stores that body's text.
    input_json = None if data is None else json.dumps(data)
    try:
        check_path_names({"functionName": name} | ({"instanceId": instance_id} if instance_id is not None else {}))
        new_id = await mount.service.start_orchestration(name, instance_id, input_json)
    except DurableError as exc:
        status, body = durable_error_answer(exc, rpc=True, sdk_exception_message=True)
        return [status, body]
    return [202, check_status_payload(mount.base_url, new_id, mount.task_hub, mount.connection_name)]
