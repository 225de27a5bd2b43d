"""Query-parameter parsing for the management API; invalid values become 400s that say how to fix them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from devhost.durable.models import InstanceQuery, RuntimeStatus
from devhost.management.responses import ApiError

CONTINUATION_HEADER = "x-ms-continuation-token"
#: Page size of GET /instances/ without ``top`` (the extension's default).
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Longest a start/restart request may hold its connection open waiting for completion.
MAX_WAIT_SECONDS = 3600.0

_TRUE = "true"
_FALSE = "false"
_SHORT_YEAR = re.compile(r"^(\d{1,3})-")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_DATE_EXAMPLE = "2024-05-01T10:00:00Z"


def _bad(name: str, value: str, expected: str) -> ApiError:
    return ApiError(400, "InvalidQueryParameter", f"Query parameter '{name}' has invalid value {value!r}: {expected}.")


def query_value(request: web.Request | Mapping[str, str], name: str) -> str | None:
    """The first value of a query parameter, matching its name case-insensitively (as the extension does).

    Takes the request or its query (the in-process RPC path has no aiohttp request).
    """
    wanted = name.lower()
    query = request.query if isinstance(request, web.Request) else request
    for key, value in query.items():
        if key.lower() == wanted:
            return value
    return None


def parse_bool(request: web.Request | Mapping[str, str], name: str, default: bool) -> bool:
    """true/false in any case (the SDK sends Python's ``True``); absent or empty -> default."""
    raw = query_value(request, name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered == _TRUE:
        return True
    if lowered == _FALSE:
        return False
    raise _bad(name, raw, "use true or false")


def parse_datetime(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 date/time (``Z`` or an offset; none means UTC) as an aware UTC datetime."""
    raw = query_value(request, name)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    # Python's strftime drops leading zeros of years < 1000 on Linux; the extension pads them too.
    short = _SHORT_YEAR.match(text)
    if short:
        text = short.group(1).zfill(4) + text[short.end() - 1 :]
    # .NET writes 7 fractional digits; Python parses at most 6.
    text = _LONG_FRACTION.sub(r"\1", text)
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(name, raw, f"use an ISO 8601 UTC time such as {_DATE_EXAMPLE}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_statuses(request: web.Request, name: str = "runtimeStatus") -> frozenset[RuntimeStatus] | None:
    """A comma-separated list of runtime status names (any case); absent or empty -> None (no filter)."""
    raw = query_value(request, name)
    if raw is None:
        return None
    # Repeated parameters (?runtimeStatus=A&runtimeStatus=B) are accepted like a comma list.
    values = [value for key, value in request.query.items() if key.lower() == name.lower()]
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not parts:
        return None
    statuses: set[RuntimeStatus] = set()
    for part in parts:
        try:
            statuses.add(RuntimeStatus.parse(part))
        except ValueError as exc:
            raise ApiError(400, "InvalidQueryParameter", f"Query parameter '{name}': {exc}.") from None
    return frozenset(statuses)


def parse_int(request: web.Request, name: str, minimum: int, maximum: int) -> int | None:
    """An integer within [minimum, maximum]; absent or empty -> None."""
    raw = query_value(request, name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise _bad(name, raw, f"use a whole number from {minimum} to {maximum}") from None
    if not minimum <= value <= maximum:
        raise _bad(name, raw, f"use a whole number from {minimum} to {maximum}")
    return value


def parse_seconds(request: web.Request, name: str) -> float | None:
    """A non-negative number of seconds (fractions allowed); absent or empty -> None."""
    raw = query_value(request, name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value > MAX_WAIT_SECONDS:
        raise _bad(name, raw, f"use a number of seconds from 0 to {MAX_WAIT_SECONDS:g}")
    return value


def parse_wait(request: web.Request) -> float | None:
    """How long a start/restart should wait for completion (``timeout``), validated against ``pollingInterval``."""
    timeout = parse_seconds(request, "timeout")
    interval = parse_seconds(request, "pollingInterval")
    if timeout is None:
        if interval is not None:
            raise ApiError(
                400, "InvalidQueryParameter", "'pollingInterval' needs 'timeout' too: add timeout=<seconds> to wait."
            )
        return None
    if interval is not None and interval > timeout:
        raise ApiError(
            400,
            "InvalidQueryParameter",
            f"'pollingInterval' ({interval:g}s) must not be larger than 'timeout' ({timeout:g}s).",
        )
    return timeout


def continuation_token(request: web.Request) -> str | None:
    """The request's x-ms-continuation-token header; absent or empty -> None (first page)."""
    token = request.headers.get(CONTINUATION_HEADER, "").strip()
    return token or None


@dataclass(frozen=True)
class ListRequest:
    """A parsed GET /instances/ request."""

    query: InstanceQuery
    show_input: bool


def parse_list_request(request: web.Request) -> ListRequest:
    """Filters and paging of GET /instances/ (createdTimeFrom/To, runtimeStatus, instanceIdPrefix, showInput, top)."""
    created_from = parse_datetime(request, "createdTimeFrom")
    created_to = parse_datetime(request, "createdTimeTo")
    if created_from is not None and created_to is not None and created_from > created_to:
        raise ApiError(400, "InvalidQueryParameter", "'createdTimeFrom' is later than 'createdTimeTo'; swap them.")
    top = parse_int(request, "top", 1, MAX_PAGE_SIZE)
    token = continuation_token(request)
    prefix = query_value(request, "instanceIdPrefix")
    query = InstanceQuery(
        created_from=created_from,
        created_to=created_to,
        statuses=parse_statuses(request),
        instance_id_prefix=prefix or None,
        page_size=top or DEFAULT_PAGE_SIZE,
        continuation_token=token,
    )
    return ListRequest(query=query, show_input=parse_bool(request, "showInput", True))


async def read_text(request: web.Request) -> str:
    """The request body as text (UTF-8); a body that is not valid UTF-8 is a 400."""
    raw = await request.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(
            400, "InvalidBody", "The request body is not valid UTF-8 text; send UTF-8 encoded JSON."
        ) from None


def require_json(text: str, what: str) -> None:
    """Raise a 400 explaining the problem when text is not one JSON document."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise ApiError(
            400,
            "InvalidJson",
            f'The {what} is not valid JSON ({exc}). Send a JSON document, e.g. {{"city": "Tokyo"}} or "Tokyo".',
        ) from None


def is_json_content_type(request: web.Request) -> bool:
    """True when the request's media type is application/json (any case, parameters ignored)."""
    return request.content_type.lower() == "application/json"
