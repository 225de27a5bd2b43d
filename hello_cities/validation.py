"""Validation of the optional orchestration input `{"cities": [...]}` and of HTTP starter bodies."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any

MIN_CITIES = 1
MAX_CITIES = 10_000
MAX_CITY_LENGTH = 100
INPUT_KEYS = frozenset({"cities"})


class InvalidInputError(ValueError):
    """Input that must be rejected before any work is scheduled; the message says what is wrong."""


def _type_name(value: object) -> str:
    """JSON-ish name of a value's type, for error messages a caller can act on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def validate_city(value: object, index: int) -> str:
    """Return the city if it is a non-blank string of at most MAX_CITY_LENGTH characters, else raise."""
    where = f"cities[{index}]"
    if not isinstance(value, str):
        raise InvalidInputError(f"{where} must be a string, got {_type_name(value)}")
    if not value.strip():
        raise InvalidInputError(f"{where} must be a non-empty string")
    if len(value) > MAX_CITY_LENGTH:
        raise InvalidInputError(f"{where} is {len(value)} characters long; the maximum is {MAX_CITY_LENGTH}")
    if _has_control_characters(value):
        raise InvalidInputError(f"{where} must not contain control characters")
    return value


def validate_cities(value: object) -> list[str]:
    """Return the list of cities if `value` is a valid cities array, else raise InvalidInputError."""
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"cities must be an array of strings, got {_type_name(value)}")
    if not MIN_CITIES <= len(value) <= MAX_CITIES:
        raise InvalidInputError(f"cities must hold {MIN_CITIES} to {MAX_CITIES} cities, got {len(value)}")
    return [validate_city(city, index) for index, city in enumerate(value)]


def parse_orchestration_input(value: object) -> list[str] | None:
    """Cities requested by an orchestration input: None (or `{}`) means the defaults; raise if invalid."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError(f'input must be a JSON object like {{"cities": [...]}}, got {_type_name(value)}')
    unknown = sorted(str(key) for key in value if key not in INPUT_KEYS)
    if unknown:
        raise InvalidInputError(f"unknown field(s) {', '.join(unknown)}; the only allowed field is cities")
    if "cities" not in value:
        return None
    return validate_cities(value["cities"])


def cities_or_default(value: object, default: Sequence[str]) -> list[str]:
    """The cities an orchestration must greet: the validated input, or `default` when none was given."""
    cities = parse_orchestration_input(value)
    return list(default) if cities is None else cities


def orchestration_input(cities: Sequence[str] | None) -> dict[str, Any] | None:
    """The input to start an orchestration with: None for the defaults, else `{"cities": [...]}`."""
    return None if cities is None else {"cities": list(cities)}


def parse_start_body(body: bytes) -> dict[str, Any] | None:
    """Parse an HTTP starter body into the orchestration input (None = defaults); raise if malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"request body is not valid UTF-8: {error.reason} at byte {error.start}") from None
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"request body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    return orchestration_input(parse_orchestration_input(value))
