"""Parsing and validating dashboard API parameters; every problem becomes an InvalidRequestError (HTTP 400)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from devhost.durable.models import InstanceQuery, RuntimeStatus
from devhost.errors import InvalidRequestError

#: Upper bound for one page of the instance list: keeps every request cheap whatever the caller asks.
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_time(value: str, param: str) -> datetime:
    """Parse an ISO 8601 time ('Z' or an offset; a naive time is taken as UTC) into an aware UTC datetime."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(f"{param}: {value!r} is not an ISO 8601 time (e.g. 2024-05-01T10:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_bool(value: str, param: str) -> bool:
    """Parse true/false, 1/0, yes/no, on/off."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidRequestError(f"{param}: expected true or false, got {value!r}")


def parse_int(value: str, param: str, low: int, high: int) -> int:
    """Parse an integer within [low, high]."""
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidRequestError(f"{param}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise InvalidRequestError(f"{param}: {number} is outside {low}..{high}")
    return number


def parse_statuses(values: list[str], param: str = "status") -> frozenset[RuntimeStatus] | None:
    """Parse statuses given as repeated parameters and/or comma lists; None when none are given."""
    names = [part for value in values for part in value.split(",") if part.strip()]
    if not names:
        return None
    try:
        return frozenset(RuntimeStatus.parse(name) for name in names)
    except ValueError as exc:
        raise InvalidRequestError(f"{param}: {exc}") from None


_LIST_PARAMS = {
    "status",
    "name",
    "prefix",
    "createdFrom",
    "createdTo",
    "hideSub",
    "sort",
    "pageSize",
    "continuationToken",
    "code",  # the Functions system key some clients append everywhere; the host checks it, not us
}


def instance_query(params: Mapping[str, str], statuses: list[str]) -> InstanceQuery:
    """Build an InstanceQuery from the list endpoint's query string (see README for the parameters)."""
    unknown = sorted(set(params) - _LIST_PARAMS)
    if unknown:
        raise InvalidRequestError(
            f"unknown parameter(s): {', '.join(unknown)}; expected: {', '.join(sorted(_LIST_PARAMS))}"
        )
    created_from = parse_time(params["createdFrom"], "createdFrom") if params.get("createdFrom") else None
    created_to = parse_time(params["createdTo"], "createdTo") if params.get("createdTo") else None
    if created_from and created_to and created_from > created_to:
        raise InvalidRequestError("createdFrom is after createdTo")
    sort = params.get("sort", "newest").strip().lower() or "newest"
    if sort not in ("newest", "oldest"):
        raise InvalidRequestError(f"sort: expected newest or oldest, got {sort!r}")
    page_size = parse_int(params["pageSize"], "pageSize", 1, MAX_PAGE_SIZE) if "pageSize" in params else None
    return InstanceQuery(
        created_from=created_from,
        created_to=created_to,
        statuses=parse_statuses(statuses),
        instance_id_prefix=params.get("prefix") or None,
        name=params.get("name", "").strip() or None,
        include_sub_orchestrations=not parse_bool(params.get("hideSub", "false"), "hideSub"),
        page_size=page_size or DEFAULT_PAGE_SIZE,
        continuation_token=params.get("continuationToken") or None,
        newest_first=sort == "newest",
    )


def json_text_or_none(value: Any, param: str) -> str | None:
    """Turn a JSON value from a request body into JSON text for the service (None stays None)."""
    if value is None:
        return None
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{param}: not serializable as JSON: {exc}") from None


def optional_str(body: Mapping[str, Any], key: str, *, max_len: int = 10_000) -> str | None:
    """A string field of a JSON body, None when absent or empty; 400 when of another type."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{key}: expected a string")
    if len(value) > max_len:
        raise InvalidRequestError(f"{key}: longer than {max_len} characters")
    return value


def required_str(body: Mapping[str, Any], key: str) -> str:
    """A non-empty string field of a JSON body; 400 when missing."""
    value = optional_str(body, key)
    if value is None or not value.strip():
        raise InvalidRequestError(f"{key}: required")
    return value
