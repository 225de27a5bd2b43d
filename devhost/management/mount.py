"""Where a management sub-application is mounted, learned from the request (one app per mount point)."""

from __future__ import annotations

from itertools import pairwise

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource


def mount_prefix(request: web.Request) -> str:
    """The path prefix under which request.app is mounted ("" when it is the root application)."""
    apps = request.match_info.apps
    prefix = ""
    for parent, child in pairwise(apps):
        for resource in parent.router.resources():
            if isinstance(resource, PrefixedSubAppResource) and resource.get_info().get("app") is child:
                prefix += str(resource.get_info().get("prefix", ""))
                break
        if child is request.app:
            break
    return prefix


def base_url(request: web.Request) -> str:
    """Absolute URL of the mount point as the client reached it, e.g. http://localhost:7071/runtime/webhooks/durabletask."""
    return f"{request.scheme}://{request.host}{mount_prefix(request)}"
