"""JSON responses and the one place where errors become HTTP responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import NotRequired, TypedDict

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from devhost.errors import DurableError, InstanceExistsError

log = logging.getLogger(__name__)


#: Request key set by handlers whose errors the SDK reads as {"ExceptionMessage": ...} (start_new).
SDK_EXCEPTION_MESSAGE = web.RequestKey("sdk_exception_message", bool)


class ApiError(Exception):
    """A refusal decided by the API itself (bad query parameter, missing body...), with its HTTP status."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


class ErrorBody(TypedDict):
    """The uniform error body of the management API."""

    error: str
    message: str
    #: The message again, where the SDK reads it (the refusals of start_new).
    ExceptionMessage: NotRequired[str]


def json_response(value: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response whose body is the JSON serialization of value."""
    return web.Response(status=status, text=json.dumps(value), content_type="application/json", headers=headers)


def json_text_response(text: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response whose body is already JSON text (stored outputs and states are sent as they are)."""
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def error_body(error: str, message: str, *, sdk_exception_message: bool) -> ErrorBody:
    """The uniform error body {"error", "message"} (+ "ExceptionMessage" where the SDK reads it)."""
    body: ErrorBody = {"error": error, "message": message}
    if sdk_exception_message:
        body["ExceptionMessage"] = message
    return body


def durable_error_answer(exc: DurableError, *, rpc: bool, sdk_exception_message: bool) -> tuple[int, ErrorBody]:
    """The status and body for a refusal by the durable service."""
    status = exc.http_status
    if isinstance(exc, InstanceExistsError) and rpc:
        # The SDK's start_new only surfaces a clean message for 400 + ExceptionMessage.
        status = 400
    error = type(exc).__name__.removesuffix("Error")
    return status, error_body(error, str(exc), sdk_exception_message=sdk_exception_message)


def error_response(request: web.Request, status: int, error: str, message: str) -> web.Response:
    """An error_body response (with ExceptionMessage if the handler marked the request SDK_EXCEPTION_MESSAGE)."""
    body = error_body(error, message, sdk_exception_message=request.get(SDK_EXCEPTION_MESSAGE, False))
    return json_response(body, status=status)


def make_error_middleware(is_rpc: Callable[[web.Request], bool]) -> Middleware:
    """The middleware turning every refusal into a JSON error response (is_rpc: request came via the SDK mount)."""

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DurableError as exc:
            sdk_message = request.get(SDK_EXCEPTION_MESSAGE, False)
            status, body = durable_error_answer(exc, rpc=is_rpc(request), sdk_exception_message=sdk_message)
            return json_response(body, status=status)
        except Exception as exc:
            return _other_error(request, exc)

    return error_middleware


def _other_error(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, ApiError):
        return error_response(request, exc.status, exc.error, exc.message)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(
            request, 413, "PayloadTooLarge", f"The request body is too large ({exc.text}). Send a smaller body."
        )
    if isinstance(exc, web.HTTPNotFound):
        return error_response(
            request, 404, "NotFound", f"No management API route matches {request.method} {request.path}."
        )
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return error_response(
            request, 405, "MethodNotAllowed", f"{request.method} is not supported here; use {allowed}."
        )
    if isinstance(exc, web.HTTPException):
        raise exc
    log.exception("Management API request %s %s failed", request.method, request.path_qs, exc_info=exc)
    return error_response(
        request, 500, "InternalServerError", "The host failed to process the request; see the host log."
    )
