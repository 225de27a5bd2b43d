"""aiohttp pieces shared by the management API and the dashboard (names.py holds the rules themselves)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from devhost.names import check_path_names

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def path_names_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 (InvalidRequestError) for a malformed id or name in the URL, before any handler sees it."""
    check_path_names(request.match_info)
    return await handler(request)
