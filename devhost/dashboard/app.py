"""The monitoring dashboard: an aiohttp application serving a static single-page UI and its JSON API."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from devhost.dashboard import entities_api, instances_api, overview_api, queues_api
from devhost.dashboard.context import FEED, SERVICE, SETTINGS, STATS, STORAGE, WAITING
from devhost.dashboard.events import ChangeFeed, running_feed, stream_events
from devhost.dashboard.settings import HUB_PREFIX, DashboardSettings
from devhost.dashboard.stats import HubStatistics
from devhost.dashboard.storage import StorageMonitor
from devhost.dashboard.waiting import WaitingSource, nothing_waits
from devhost.durable.service import DurableService
from devhost.errors import DevHostError

__all__ = ["DashboardSettings", "create_dashboard_app"]

STATIC_DIR = Path(__file__).with_name("static")
log = logging.getLogger(__name__)

# Everything is served from this origin: no CDN, no inline script.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: The API's paths, at the root or under a hub's /hubs/NAME/ prefix (devhost/scheduler/dashboards.py).
_API_PATH = re.compile(rf"^(?:{re.escape(HUB_PREFIX)}[^/]+)?/api/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": error_type, "message": message}}, status=status)


def _cross_site_refusal(request: web.Request) -> web.Response | None:
    """Refuse state-changing API calls another site's page could forge (the dashboard has no login)."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return _error(403, "CrossOriginRequest", f"requests from {origin} are not allowed")
    if request.content_type != "application/json":
        return _error(415, "UnsupportedMediaType", "actions take a JSON body: send Content-Type: application/json")
    return None


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals into JSON errors on /api/ (status from the error's http_status)."""
    is_api = _API_PATH.match(request.path) is not None
    if is_api and request.method in _UNSAFE_METHODS:
        refusal = _cross_site_refusal(request)
        if refusal is not None:
            return refusal
    try:
        response = await handler(request)
    except DevHostError as exc:
        if not is_api:
            raise
        return _error(getattr(exc, "http_status", 500), type(exc).__name__, str(exc))
    except web.HTTPException as exc:
        if not is_api or exc.empty_body or exc.status < 400:  # redirects stay redirects
            raise
        return _error(exc.status, exc.reason.replace(" ", ""), exc.reason)
    except Exception as exc:
        if not is_api:
            raise
        log.exception("dashboard API %s %s failed", request.method, request.path)
        return _error(500, type(exc).__name__, str(exc) or "internal error")
    if not is_api:
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("Cache-Control", "no-cache")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def _settings(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        {
            "taskHub": settings.task_hub,
            "storageConfigured": bool(settings.storage_connection_string),
            "queueNames": list(settings.queue_names),
            "resultsTable": settings.results_table,
            "orchestratorNames": sorted(settings.orchestrator_names, key=str.lower),
            "taskHubs": settings.hub_links(),
        }
    )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "dashboard": "full", "taskHub": request.app[SETTINGS].task_hub})


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `instances` whenever instances change (see README, Live updates)."""
    return await stream_events(request, request.app[FEED])


async def _unknown_api(request: web.Request) -> web.Response:
    return _error(404, "NotFound", f"no API route {request.method} {request.path}")


def create_dashboard_app(
    service: DurableService,
    *,
    settings: DashboardSettings,
    stats: HubStatistics,
    waiting: WaitingSource = nothing_waits,
) -> web.Application:
    """Build the dashboard application (UI at /, JSON API under /api/, assets under /static/).

    `stats` answers the overview's aggregates (the engine's `statistics`); `waiting` lists the work no connected
    worker takes (the engine's `waiting_work`), shown on the instances and the overview.
    """
    app = web.Application(middlewares=[_api_errors])
    app[SERVICE] = service
    app[SETTINGS] = settings
    app[STATS] = stats
    app[WAITING] = waiting
    app[STORAGE] = StorageMonitor(settings.storage_connection_string, settings.queue_names, settings.results_table)
    app[FEED] = ChangeFeed(service, stats, waiting=waiting)

    async def storage_lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[STORAGE].close()

    async def feed_lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with running_feed(app[FEED]):
            yield

    async def close_streams(app: web.Application) -> None:
        # Open event streams would hold the server's graceful shutdown until its timeout: end them first.
        app[FEED].close()

    app.cleanup_ctx.append(storage_lifecycle)
    app.cleanup_ctx.append(feed_lifecycle)
    app.on_shutdown.append(close_streams)
    app.router.add_routes(instances_api.routes)
    app.router.add_routes(entities_api.routes)
    app.router.add_routes(overview_api.routes)
    app.router.add_routes(queues_api.routes)
    app.router.add_get("/api/settings", _settings)
    app.router.add_get("/api/health", _health)
    app.router.add_get("/api/events", _events)
    app.router.add_route("*", "/api/{tail:.*}", _unknown_api)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    return app
