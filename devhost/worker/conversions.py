"""Trigger and binding data in the host's wire shapes <-> the SDK types user code takes and returns.

The host reads triggers and input bindings and writes output bindings; the worker only converts, as the
Python worker converts the host's TypedData by each parameter's annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions.blob import InputStream
from azure.functions.http import HttpRequest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devhost.protocol.framing import decode_bytes, encode_bytes


class OutputTypeError(TypeError):
    """A function returned (or set) a value its output binding cannot carry."""


# ---------------------------------------------------------------------------------------------- triggers


def trigger_value(trigger_type: str, data: dict[str, Any], annotation: Any) -> Any:
    """The trigger parameter's value for the host's trigger data."""
    if trigger_type == "httpTrigger":
        return HttpRequest(
            method=data["method"],
            url=data["url"],
            headers=data.get("headers") or {},
            params=data.get("params") or {},
            route_params=data.get("route_params") or {},
            body_type="bytes",
            body=decode_bytes(data.get("body") or ""),
        )
    if trigger_type == "queueTrigger":
        body = decode_bytes(data.get("body") or "")
        if annotation in (str, bytes):
            return _plain(body, annotation)
        return QueueMessage(
            id=data.get("id"),
            body=body,
            dequeue_count=data.get("dequeue_count"),
            expiration_time=_time(data.get("expiration_time")),
            insertion_time=_time(data.get("insertion_time")),
            time_next_visible=_time(data.get("time_next_visible")),
            pop_receipt=data.get("pop_receipt"),
        )
    if trigger_type == "blobTrigger":
        content = decode_bytes(data.get("data") or "")
        if annotation in (str, bytes):
            return _plain(content, annotation)
        # As the Python worker's BlobConverter builds it from the trigger metadata: name is the blob path
        # ("container/blob", the BlobTrigger value), length from Properties.ContentLength.
        return InputStream(
            data=content,
            name=data.get("name"),
            uri=data.get("uri"),
            length=data.get("length"),
            blob_properties=data.get("properties"),
            metadata=data.get("metadata"),
        )
    if trigger_type == "timerTrigger":
        return TimerRequest(
            past_due=bool(data.get("past_due")),
            schedule_status=data.get("schedule_status"),
            schedule=data.get("schedule"),
        )
    raise ValueError(f"the worker cannot convert a {trigger_type!r} trigger")


def _plain(payload: bytes, annotation: type) -> str | bytes:
    """A trigger payload for a parameter annotated `str` (UTF-8 text) or `bytes` (as it is)."""
    return payload.decode("utf-8") if annotation is str else payload


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# ---------------------------------------------------------------------------------------------- inputs


def input_value(binding: dict[str, Any], data: dict[str, Any] | None, annotation: Any) -> Any:
    """An input binding's value (table JSON text, blob content, durable client JSON) by annotation."""
    if data is None:
        return None
    binding_type = binding.get("type")
    if binding_type == "blob":
        content = decode_bytes(data["data"])
        wanted = annotation if annotation is not None else _data_type(binding)
        if wanted is str:
            return content.decode("utf-8")
        if wanted is bytes:
            return content
        properties = {"ContentLength": data["length"], "Uri": data["uri"], "Name": data["name"]}
        return InputStream(
            data=content, name=data["name"], uri=data["uri"], length=data["length"], blob_properties=properties
        )
    text = data.get("text")
    if text is not None and annotation is bytes:
        return str(text).encode("utf-8")
    return text


def _data_type(binding: dict[str, Any]) -> type | None:
    data_type = str(binding.get("dataType") or "").lower()
    return {"string": str, "binary": bytes}.get(data_type)


# ---------------------------------------------------------------------------------------------- outputs


def output_data(binding: dict[str, Any], value: Any, function_name: str) -> dict[str, Any] | None:
    """The wire shape of an output binding's value (None writes nothing)."""
    if value is None:
        return None
    binding_type = binding.get("type")
    if binding_type == "http":
        return _http_output(value, function_name)
    if binding_type == "queue":
        return {"messages": [_body_data(body) for body in message_bodies(value)]}
    if binding_type == "blob":
        return {"data": encode_bytes(blob_bytes(value))}
    if binding_type == "table":
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8")
        if isinstance(value, str):
            return {"text": value}
        try:
            return {"text": json.dumps(value)}
        except TypeError as exc:
            raise OutputTypeError(f"table output is not JSON-serializable: {exc}") from None
    raise OutputTypeError(f"binding {binding.get('name')!r}: {binding_type!r} is not an output the worker encodes")


def _http_output(value: Any, function_name: str) -> dict[str, Any]:
    # The Python worker only encodes func.HttpResponse and str for an http output.
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, func.HttpResponse):
        return {
            "status": value.status_code,
            "headers": [[name, header] for name, header in value.headers.items()],
            "mimetype": value.mimetype,
            "charset": value.charset,
            "body": encode_bytes(value.get_body() or b""),
        }
    raise OutputTypeError(
        f"function {function_name!r} returned a {type(value).__name__} for its HTTP output; "
        "return func.HttpResponse or str (like the Python worker)"
    )


def _body_data(body: bytes | str) -> dict[str, str]:
    return {"text": body} if isinstance(body, str) else {"data": encode_bytes(body)}


def message_bodies(value: Any) -> list[bytes | str]:
    """Message bodies for a queue output value: str, bytes, func.QueueMessage, dict (as JSON) or a list of those."""
    if value is None:
        return []
    if isinstance(value, str | bytes | bytearray | func.QueueMessage | dict):
        return [_one_body(value)]
    if isinstance(value, Iterable):
        return [_one_body(item) for item in value]
    raise OutputTypeError(
        f"cannot send a {type(value).__name__} as a queue message; use str, bytes, func.QueueMessage or a list"
    )


def _one_body(value: Any) -> bytes | str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, func.QueueMessage):
        return value.get_body()
    if isinstance(value, dict):
        return json.dumps(value)
    raise OutputTypeError(f"cannot send a {type(value).__name__} as a queue message item; use str or bytes")


def blob_bytes(value: Any) -> bytes:
    """Bytes to upload for a blob output value: str (UTF-8), bytes, or a file-like object."""
    if callable(getattr(value, "read", None)):
        value = value.read()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise OutputTypeError(f"cannot write a {type(value).__name__} to a blob; use str, bytes or a stream")
