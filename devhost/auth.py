"""Access keys: function and admin (master) keys, enforced only when the host listens beyond loopback.

Shared by the HTTP trigger (a function's auth level) and the servers (admin endpoints, the dashboard).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from devhost.errors import ConfigError
from devhost.net import is_loopback_host

log = logging.getLogger(__name__)

KEYS_FILE = "keys.json"
#: App settings that fix the keys instead of generating them.
ADMIN_KEY_SETTING = "DEVHOST_ADMIN_KEY"
FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
KEY_HEADER = "x-functions-key"
KEY_COOKIE = "devhost-key"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Keys:
    """The admin (master) key and the default host function key."""

    admin: str
    function: str


def load_or_create_keys(data_dir: Path, settings: Mapping[str, str]) -> tuple[Keys, bool]:
    """Keys from app settings, else from data_dir/keys.json, else new ones saved there (0600).

    Returns the keys and whether they were just generated (so the caller prints them once).
    """
    path = data_dir / KEYS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable keys file ({exc}); delete it to generate new keys") from exc
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ConfigError(f'{path}: expected {{"admin": "...", "function": "..."}}; delete it to regenerate')
        stored = loaded
    created = False
    if not stored.get("admin") or not stored.get("function"):
        stored = {"admin": secrets.token_urlsafe(32), "function": secrets.token_urlsafe(32)}
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=2)
        created = True
    keys = Keys(
        admin=settings.get(ADMIN_KEY_SETTING) or stored["admin"],
        function=settings.get(FUNCTION_KEY_SETTING) or stored["function"],
    )
    return keys, created


class AuthPolicy:
    """Decides whether a request may run at an auth level; keys are checked only when enforce is True."""

    def __init__(self, keys: Keys | None, *, enforce: bool, bind_host: str = "127.0.0.1") -> None:
        if enforce and keys is None:
            raise ValueError("keys are required when enforcing")
        self.keys = keys
        self.enforce = enforce
        self.bind_host = bind_host

    def presented_key(self, request: web.Request) -> str | None:
        """The key a request carries: ?code=, the x-functions-key header, or the dashboard cookie."""
        return request.query.get("code") or request.headers.get(KEY_HEADER) or request.cookies.get(KEY_COOKIE)

    def allows(self, request: web.Request, level: str) -> bool:
        """True when the request may call something at level (anonymous, function or admin)."""
        level = level.lower()
        if not self.enforce or level == "anonymous":
            return True
        assert self.keys is not None
        key = self.presented_key(request)
        if key is None:
            return False
        if secrets.compare_digest(key, self.keys.admin):
            return True
        return level == "function" and secrets.compare_digest(key, self.keys.function)

    def is_local_peer(self, request: web.Request) -> bool:
        """True for loopback peers (and the host's own address when bound to one specific interface)."""
        peer = request.remote or ""
        return is_loopback_host(peer) or (peer != "" and peer == self.bind_host)


def unauthorized(level: str) -> web.Response:
    """The 401 answer, as JSON saying which key to send and how."""
    return web.json_response(
        {
            "error": "Unauthorized",
            "message": f"this endpoint needs a {level.lower()} key: pass ?code=<key> or the x-functions-key header",
        },
        status=401,
    )


def key_middleware(
    policy: AuthPolicy, prefixes: tuple[str, ...], level: str = "admin"
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Require a key of `level` (function: the function or admin key) on paths under prefixes, when enforced."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefixes) and not policy.allows(request, level):
            return unauthorized(level)
        return await handler(request)

    return middleware


def local_only_middleware(policy: AuthPolicy, prefix: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse non-local peers on prefix (the SDK's RPC endpoint is for the host's own functions)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefix) and not policy.is_local_peer(request):
            return web.json_response(
                {"error": "Forbidden", "message": f"{prefix} only accepts connections from this machine"},
                status=403,
            )
        return await handler(request)

    return middleware


def dashboard_middleware(policy: AuthPolicy) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The dashboard needs the admin key when enforced; a valid ?code= is remembered in a cookie."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not policy.allows(request, "admin"):
            return unauthorized("admin")
        response = await handler(request)
        code = request.query.get("code")
        if policy.enforce and code and request.cookies.get(KEY_COOKIE) != code:
            response.set_cookie(KEY_COOKIE, code, httponly=True, samesite="Strict")
        return response

    return middleware
