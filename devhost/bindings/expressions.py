"""Binding expressions: {name} placeholders in paths, keys and filters, filled from the trigger's data."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from devhost.errors import DevHostError

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class BindingExpressionError(DevHostError):
    """A {placeholder} has no value in the trigger data."""


def json_properties(body: bytes | str | None) -> dict[str, Any]:
    """Top-level properties of a JSON object payload (other payloads contribute nothing)."""
    if not body:
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """Find a dotted path (Query.name, body.city) case-insensitively; raise KeyError when absent."""
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping):
            raise KeyError(path)
        for key, value in current.items():
            if str(key).lower() == part.lower():
                current = value
                break
        else:
            raise KeyError(path)
    return current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def resolve(template: str, data: Mapping[str, Any], where: str) -> str:
    """Fill every {placeholder}; {rand-guid} and {DateTime} are built in, like the Functions host's."""

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        lowered = expression.lower()
        if lowered == "rand-guid":
            return str(uuid.uuid4())
        if lowered == "datetime":
            return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            return _text(lookup(data, expression))
        except KeyError:
            available = ", ".join(sorted(str(k) for k in data)) or "none"
            raise BindingExpressionError(
                f"{where}: no value for {{{expression}}} in the trigger data (available: {available})"
            ) from None

    return _PLACEHOLDER.sub(replace, template)
