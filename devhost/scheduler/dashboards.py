"""The dashboard of `devhost scheduler`: one dashboard per task hub on one port, picked by the URL's path.

The first (default) hub is at the plain URL (http://localhost:8082/), every hub at /hubs/NAME/, the first one
included (it redirects to /). A path rather than a host name per hub (http://NAME.localhost:8082/, the first
version) because a path works wherever the port is reachable: on a LAN address, through a tunnel, and in clients
whose resolver does not map *.localhost to loopback; the dashboard's header picker links between them.
"""

from __future__ import annotations

from aiohttp import web

from devhost.dashboard.app import DashboardSettings, create_dashboard_app
from devhost.dashboard.settings import HUB_PREFIX, hub_path
from devhost.scheduler.servicer import TaskHub


def hubs_dashboard(hubs: list[TaskHub]) -> web.Application:
    """One application serving every hub's dashboard: the first hub at /, the others at /hubs/NAME/."""
    names = [hub.name for hub in hubs]
    # The first hub's dashboard is the front application itself (a catch-all add_domain("*") sub-application
    # would shadow the /hubs/ prefixes: aiohttp tries it first); the other hubs are its sub-applications.
    front = _hub_dashboard(hubs[0], names)

    async def to_hub(request: web.Request) -> web.StreamResponse:
        """/hubs/NAME without its slash, a name in another case, or the first hub: to the hub's canonical
        path (307 keeps the method and body of an API call); an unknown hub: 404 naming the known ones."""
        wanted = request.match_info["name"]
        name = next((known for known in names if known.lower() == wanted.lower()), None)
        tail = request.match_info.get("tail", "")
        if name is None:
            message = f"No task hub named '{wanted}'. Task hubs: {', '.join(names)} (see --task-hubs)."
            if tail.startswith("api/"):  # the API answers in its JSON error shape
                return web.json_response({"error": {"type": "UnknownTaskHub", "message": message}}, status=404)
            raise web.HTTPNotFound(text=message + "\n")
        target = hub_path(names, name) + tail
        if target == request.path:  # cannot happen for a served hub (its sub-application matched first)
            raise web.HTTPNotFound()
        raise web.HTTPTemporaryRedirect(request.rel_url.with_path(target).path_qs)

    front.router.add_route("*", HUB_PREFIX + "{name}", to_hub)
    for hub in hubs[1:]:
        front.add_subapp(hub_path(names, hub.name), _hub_dashboard(hub, names))
    front.router.add_route("*", HUB_PREFIX + "{name}/{tail:.*}", to_hub)
    # /hubs/NAME without its slash reaches NAME's sub-application, which has no such path: add the slash (the
    # page's relative links need it).
    front.middlewares.insert(0, web.normalize_path_middleware(append_slash=True, merge_slashes=False))
    return front


def _hub_dashboard(hub: TaskHub, names: list[str]) -> web.Application:
    """One hub's dashboard application."""
    engine = hub.engine
    settings = DashboardSettings(task_hub=hub.name, task_hubs=names)
    return create_dashboard_app(engine, settings=settings, stats=engine.statistics, waiting=engine.waiting_work)
