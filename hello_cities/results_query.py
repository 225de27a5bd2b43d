"""Query parameters of `GET /api/results` and its opaque continuation token."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from hello_cities.catalog import ORCHESTRATIONS, by_any_name

DEFAULT_TOP = 100
MAX_TOP = 1000
KNOWN_PARAMETERS = frozenset({"orchestration", "since", "top", "continuationToken"})
#: Added by the Functions host itself when function keys are used; never an error.
IGNORED_PARAMETERS = frozenset({"code"})


class InvalidQueryError(ValueError):
    """A bad results query; the message says which parameter and why."""


@dataclass(frozen=True)
class ResultsQuery:
    """A validated results query."""

    orchestration: str | None = None
    since: datetime | None = None
    top: int = DEFAULT_TOP
    continuation_token: dict[str, str] | None = None


def encode_continuation_token(token: dict[str, str] | None) -> str | None:
    """The table's continuation token as an opaque URL-safe string (None stays None)."""
    if not token:
        return None
    text = json.dumps({"pk": token.get("PartitionKey"), "rk": token.get("RowKey")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_continuation_token(text: str) -> dict[str, str]:
    """Reverse encode_continuation_token; raise InvalidQueryError if the token was not made by it."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise InvalidQueryError("continuationToken is not a token returned by this API") from None
    if (
        not isinstance(value, dict)
        or set(value) != {"pk", "rk"}
        or not all(isinstance(v, str | None) for v in value.values())
        or value["pk"] is None
    ):
        raise InvalidQueryError("continuationToken is not a token returned by this API")
    token = {"PartitionKey": value["pk"]}
    if value["rk"] is not None:
        token["RowKey"] = value["rk"]
    return token


def _parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidQueryError(f"since must be an ISO 8601 time such as 2024-05-01T10:00:00Z, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_top(text: str) -> int:
    try:
        top = int(text.strip())
    except ValueError:
        raise InvalidQueryError(f"top must be an integer from 1 to {MAX_TOP}, got {text!r}") from None
    if not 1 <= top <= MAX_TOP:
        raise InvalidQueryError(f"top must be an integer from 1 to {MAX_TOP}, got {top}")
    return top


def parse_results_query(params: Mapping[str, str]) -> ResultsQuery:
    """Validate the query string of `GET /api/results`; raise InvalidQueryError on the first problem."""
    unknown = sorted(set(params) - KNOWN_PARAMETERS - IGNORED_PARAMETERS)
    if unknown:
        allowed = ", ".join(sorted(KNOWN_PARAMETERS))
        raise InvalidQueryError(f"unknown query parameter(s) {', '.join(unknown)}; allowed: {allowed}")
    orchestration = None
    if "orchestration" in params:
        found = by_any_name(params["orchestration"].strip())
        if found is None:
            expected = " or ".join(repr(o.short_name) for o in ORCHESTRATIONS)
            raise InvalidQueryError(f"orchestration must be {expected}, got {params['orchestration']!r}")
        orchestration = found.short_name
    since = _parse_since(params["since"]) if "since" in params else None
    top = _parse_top(params["top"]) if "top" in params else DEFAULT_TOP
    token = decode_continuation_token(params["continuationToken"]) if params.get("continuationToken") else None
    return ResultsQuery(orchestration=orchestration, since=since, top=top, continuation_token=token)
