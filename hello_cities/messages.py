"""Start-request queue messages: their JSON shape, parsing, and the idempotent instance id they map to.

A message is `{"orchestration": "chaining" | "fanout", "requestId": "<id>", "cities": [...]}` (cities
optional). The same requestId always maps to the same instance id, so a message delivered or sent twice
starts one orchestration.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from hello_cities.catalog import ORCHESTRATIONS, Orchestration, by_short_name
from hello_cities.validation import InvalidInputError, orchestration_input, validate_cities

INSTANCE_ID_PREFIX = "hello-"
MAX_REQUEST_ID_LENGTH = 100
MESSAGE_KEYS = frozenset({"orchestration", "requestId", "cities"})
#: Characters an instance id must not hold: they break status URLs and Azure Storage table keys.
FORBIDDEN_REQUEST_ID_CHARACTERS = frozenset("/\\?#")


class InvalidMessageError(ValueError):
    """A queue message that must never start anything; the message says why."""


@dataclass(frozen=True)
class StartRequest:
    """A validated request to start one orchestration."""

    orchestration: Orchestration
    request_id: str
    cities: tuple[str, ...] | None = None

    @property
    def instance_id(self) -> str:
        """The instance id this request starts (same request id, same instance)."""
        return instance_id_for(self.request_id)

    @property
    def input(self) -> dict[str, Any] | None:
        """The orchestration input: None for the default cities."""
        return orchestration_input(self.cities)


def validate_request_id(value: object) -> str:
    """Return the request id if it can safely become part of an instance id, else raise InvalidMessageError."""
    if not isinstance(value, str):
        raise InvalidMessageError("requestId must be a string")
    if not value:
        raise InvalidMessageError("requestId must not be empty")
    if len(value) > MAX_REQUEST_ID_LENGTH:
        raise InvalidMessageError(f"requestId is {len(value)} characters long; the maximum is {MAX_REQUEST_ID_LENGTH}")
    if value != value.strip():
        raise InvalidMessageError("requestId must not start or end with whitespace")
    bad = sorted({ch for ch in value if ch in FORBIDDEN_REQUEST_ID_CHARACTERS})
    if bad:
        raise InvalidMessageError(f"requestId must not contain {' '.join(bad)}")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidMessageError("requestId must not contain control characters")
    return value


def instance_id_for(request_id: str) -> str:
    """The orchestration instance id for a request id (validated first)."""
    return INSTANCE_ID_PREFIX + validate_request_id(request_id)


def parse_start_message(body: str | bytes) -> StartRequest:
    """Parse and validate a decoded queue message body; raise InvalidMessageError saying what is wrong."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidMessageError(f"message is not valid UTF-8: {error.reason} at byte {error.start}") from None
    try:
        value = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidMessageError(f"message is not valid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(value, dict):
        raise InvalidMessageError("message must be a JSON object")
    unknown = sorted(str(key) for key in value if key not in MESSAGE_KEYS)
    if unknown:
        raise InvalidMessageError(f"unknown field(s) {', '.join(unknown)}")
    name = value.get("orchestration")
    orchestration = by_short_name(name) if isinstance(name, str) else None
    if orchestration is None:
        expected = " or ".join(repr(o.short_name) for o in ORCHESTRATIONS)
        raise InvalidMessageError(f"orchestration must be {expected}, got {name!r}")
    if "requestId" not in value:
        raise InvalidMessageError("requestId is missing")
    request_id = validate_request_id(value["requestId"])
    cities: tuple[str, ...] | None = None
    if "cities" in value:
        try:
            cities = tuple(validate_cities(value["cities"]))
        except InvalidInputError as error:
            raise InvalidMessageError(str(error)) from None
    return StartRequest(orchestration, request_id, cities)


def encode_start_message(orchestration: str, request_id: str, cities: list[str] | None = None) -> str:
    """The JSON text of a start message (before the queue's base64 encoding); validates like the parser."""
    document: dict[str, Any] = {"orchestration": orchestration, "requestId": request_id}
    if cities is not None:
        document["cities"] = list(cities)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    parse_start_message(text)
    return text
