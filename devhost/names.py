"""Validation of the names clients put in URLs and bodies: instance ids, event, function and entity names.

Values only ever reach SQLite as bound parameters and never become file names, so these rules are not what
keeps the store safe; they make bad input fail early, with a 400 saying what is wrong, instead of a 404 or
a row nobody can address again. Instance ids follow the Durable extension's rules (what a status URL and an
Azure Storage table key can hold); other names get the same length bound and no control characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping

from devhost.errors import InvalidRequestError

MAX_NAME_LENGTH = 256
#: Characters an instance id must not hold (they break status URLs and table keys).
FORBIDDEN_INSTANCE_ID_CHARACTERS = frozenset("/\\?#")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def check_name(value: object, what: str, forbidden: frozenset[str] = frozenset()) -> str:
    """Return value if it is a 1..256 character string without control (or forbidden) characters."""
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{what} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidRequestError(f"{what} is {len(value)} characters long; the maximum is {MAX_NAME_LENGTH}")
    for char in value:
        if char in forbidden or unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidRequestError(f"{what} {_shown(value)} contains the forbidden character {char!r}")
    return value


def check_instance_id(value: object) -> str:
    """An instance id: 1..256 characters, no control characters and none of / \\ ? #."""
    return check_name(value, "instance id", FORBIDDEN_INSTANCE_ID_CHARACTERS)


#: URL parameters checked on every route that has them, by match_info name.
_PATH_CHECKS: dict[str, Callable[[str], str]] = {
    "instanceId": check_instance_id,
    "instance_id": check_instance_id,
    "eventName": lambda value: check_name(value, "event name"),
    "functionName": lambda value: check_name(value, "function name"),
    "entityName": lambda value: check_name(value, "entity name", frozenset("@")),
    "entityKey": lambda value: check_name(value, "entity key"),
}


def check_path_names(match_info: Mapping[str, str]) -> None:
    """InvalidRequestError for a malformed id or name among a route's path values (by route variable name)."""
    for key, value in match_info.items():
        check = _PATH_CHECKS.get(key)
        if check is not None:
            check(value)
