"""The ``context`` parameter (func.Context) and func.Out values of a triggered function."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import azure.functions as func


class TraceContext:
    """W3C trace context of the invocation."""

    def __init__(self, trace_parent: str | None, trace_state: str | None) -> None:
        self._parent = trace_parent or f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        self._state = trace_state or ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class RetryContext:
    """No retry policy runs locally: always the first try."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """Invocation id, function name and directory, trace and retry context."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str, trace: TraceContext) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = trace
        self._retry = RetryContext()
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return self._retry


class OutValue(func.Out[Any]):
    """The object passed for func.Out[...] parameters."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value
