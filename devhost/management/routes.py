"""The Durable HTTP management API (durable-protocol.md sections 4.2 and 5) as an aiohttp sub-application."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from devhost.durable.models import InstanceRecord, RuntimeStatus
from devhost.durable.service import DurableService
from devhost.management import RPC_PREFIX
from devhost.management.entities import add_entity_routes
from devhost.management.mount import base_url, mount_prefix
from devhost.management.params import (
    CONTINUATION_HEADER,
    is_json_content_type,
    parse_bool,
    parse_datetime,
    parse_list_request,
    parse_statuses,
    parse_wait,
    query_value,
    read_text,
    require_json,
)
from devhost.management.payloads import check_status_response
from devhost.management.responses import (
    SDK_EXCEPTION_MESSAGE,
    ApiError,
    json_response,
    json_text_response,
    make_error_middleware,
)
from devhost.management.status import InstanceStatus, render_history, render_status
from devhost.web import path_names_middleware

#: Seconds a poller should wait before asking again about a running instance (the extension's value).
STATUS_RETRY_AFTER_SECONDS = 5
_IN_PROGRESS = frozenset(
    {RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.CONTINUED_AS_NEW, RuntimeStatus.SUSPENDED}
)


def create_management_app(
    service: DurableService, *, task_hub: str, connection_name: str = "Storage", rpc: bool | None = None
) -> web.Application:
    """The management API for one mount point; create one app per prefix (public API, SDK RPC).

    ``rpc`` selects the SDK-facing answers (404 with empty body for a missing instance, status objects
    also carrying ``history``, restart answering the new id, duplicate start as 400); None means "decide
    from the mount prefix" (True under RPC_PREFIX).
    """
    api = _ManagementApi(service, task_hub, connection_name, rpc)
    app = web.Application(
        middlewares=[make_error_middleware(api.is_rpc), _mark_sdk_exception_message, path_names_middleware]
    )
    router = app.router
    router.add_post("/orchestrators/{functionName}", api.start, name=_START_ROUTES[0])
    router.add_post("/orchestrators/{functionName}/{instanceId}", api.start, name=_START_ROUTES[1])
    for path in ("/instances", "/instances/"):
        router.add_get(path, api.list_instances, allow_head=False)
        router.add_delete(path, api.purge_instances)
    router.add_get("/instances/{instanceId}", api.get_status, allow_head=False)
    router.add_delete("/instances/{instanceId}", api.purge_instance)
    router.add_post("/instances/{instanceId}/{operation}", api.instance_operation)
    router.add_post("/instances/{instanceId}/{operation}/{eventName}", api.raise_event)
    add_entity_routes(router, service)
    return app


#: Route names of the starts, whose refusals the SDK's start_new reads from "ExceptionMessage".
_START_ROUTES = ("start", "start_with_id")


@web.middleware
async def _mark_sdk_exception_message(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Marked before the path checks run, so that their refusal of a malformed id also reaches the SDK's
    # start_new as a message rather than a KeyError on "ExceptionMessage".
    if request.match_info.route.name in _START_ROUTES:
        request[SDK_EXCEPTION_MESSAGE] = True
    return await handler(request)


async def status_answer(
    service: DurableService,
    instance_id: str,
    *,
    rpc: bool,
    show_history: bool,
    show_output: bool,
    show_input: bool,
    fail_500: bool,
) -> tuple[int, InstanceStatus] | None:
    """GET /instances/{id}'s status code and body: 202 in progress, 200 ended (500 if asked for failures);
    None if there is no such instance."""
    record = await service.get_instance(instance_id)
    if record is None:
        return None
    history = None
    if show_history:
        events = await service.get_history(instance_id)
        history = render_history(events, show_input=show_input, show_output=show_output)
    body = render_status(record, show_input=show_input, history_events=history)
    if history is not None and rpc:
        # DurableOrchestrationStatus reads "history"; the API's own name is "historyEvents".
        body["history"] = history
    if record.runtime_status in _IN_PROGRESS:
        return 202, body
    return (500 if fail_500 and record.runtime_status is RuntimeStatus.FAILED else 200), body


class _ManagementApi:
    """Handlers of the orchestration routes, sharing the service and the URL settings."""

    def __init__(self, service: DurableService, task_hub: str, connection_name: str, rpc: bool | None) -> None:
        self.service = service
        self.task_hub = task_hub
        self.connection_name = connection_name
        self._rpc = rpc

    def is_rpc(self, request: web.Request) -> bool:
        """Whether this request came through the SDK's RPC mount."""
        if self._rpc is not None:
            return self._rpc
        return mount_prefix(request).rstrip("/") == RPC_PREFIX

    def _check_status(self, request: web.Request, instance_id: str) -> web.Response:
        return check_status_response(base_url(request), instance_id, self.task_hub, self.connection_name)

    async def _existing(self, instance_id: str) -> InstanceRecord:
        record = await self.service.get_instance(instance_id)
        if record is None:
            raise ApiError(404, "InstanceNotFound", f"No orchestration instance with id {instance_id!r} exists.")
        return record

    # ---- start, wait, status -------------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        """POST /orchestrators/{functionName}[/{instanceId}]: start, optionally wait (timeout, pollingInterval)."""
        name = request.match_info["functionName"]
        instance_id = request.match_info.get("instanceId")
        wait_s = parse_wait(request)
        fail_500 = parse_bool(request, "returnInternalServerErrorOnFailure", False)
        body = await read_text(request)
        input_json: str | None = None
        if body.strip():
            require_json(body, "request body (the orchestration input)")
            input_json = body
        new_id = await self.service.start_orchestration(name, instance_id, input_json)
        if wait_s is None:
            return self._check_status(request, new_id)
        return await self._wait_or_check_status(request, new_id, wait_s, fail_500)

    async def _wait_or_check_status(
        self, request: web.Request, instance_id: str, timeout_s: float, fail_500: bool
    ) -> web.Response:
        record = await self.service.wait_for_instance(instance_id, timeout_s)
        if record is None or not record.runtime_status.is_terminal:
            return self._check_status(request, instance_id)
        if record.runtime_status is RuntimeStatus.COMPLETED:
            return json_text_response(record.output if record.output is not None else "null")
        status = 500 if fail_500 and record.runtime_status is RuntimeStatus.FAILED else 200
        return json_response(render_status(record), status=status)

    async def get_status(self, request: web.Request) -> web.Response:
        """GET /instances/{id}: 202 while in progress, 200 when ended, 404 unknown."""
        instance_id = request.match_info["instanceId"]
        show_history = parse_bool(request, "showHistory", False)
        show_output = parse_bool(request, "showHistoryOutput", False)
        show_input = parse_bool(request, "showInput", True)
        fail_500 = parse_bool(request, "returnInternalServerErrorOnFailure", False)
        rpc = self.is_rpc(request)
        answer = await status_answer(
            self.service,
            instance_id,
            rpc=rpc,
            show_history=show_history,
            show_output=show_output,
            show_input=show_input,
            fail_500=fail_500,
        )
        if answer is None:
            if rpc:
                # The SDK reads an empty 404 as "no such instance" (a falsy status object).
                return web.Response(status=404)
            raise ApiError(404, "InstanceNotFound", f"No orchestration instance with id {instance_id!r} exists.")
        status, body = answer
        if status == 202:
            headers = {"Location": str(request.url), "Retry-After": str(STATUS_RETRY_AFTER_SECONDS)}
            return json_response(body, status=202, headers=headers)
        return json_response(body, status=status)

    async def list_instances(self, request: web.Request) -> web.Response:
        """GET /instances/: one page (``top``, default 100) continued by x-ms-continuation-token.

        Like the extension, a caller that ignores the token (the SDK's get_status_all / get_status_by)
        sees only the first page, so code that forgets to page fails here as it would in Azure.
        """
        parsed = parse_list_request(request)
        page = await self.service.query_instances(parsed.query)
        body = [render_status(record, show_input=parsed.show_input) for record in page.instances]
        return json_response(body, headers={CONTINUATION_HEADER: page.continuation_token or ""})

    # ---- purge ---------------------------------------------------------------------------------

    async def purge_instance(self, request: web.Request) -> web.Response:
        """DELETE /instances/{id}: purge one ended instance."""
        instance_id = request.match_info["instanceId"]
        record = await self._existing(instance_id)
        if not record.runtime_status.is_terminal:
            raise ApiError(
                412,
                "InstanceNotEnded",
                f"Only ended instances can be purged, but {instance_id!r} is {record.runtime_status.value}; "
                "terminate it first.",
            )
        deleted = await self.service.purge_instance(instance_id)
        if deleted == 0:
            raise ApiError(404, "InstanceNotFound", f"No orchestration instance with id {instance_id!r} exists.")
        return json_response({"instancesDeleted": deleted})

    async def purge_instances(self, request: web.Request) -> web.Response:
        """DELETE /instances/?createdTimeFrom=..: purge ended instances by creation time and status."""
        created_from = parse_datetime(request, "createdTimeFrom")
        if created_from is None:
            raise ApiError(
                400,
                "MissingQueryParameter",
                "Purging by filter needs 'createdTimeFrom', e.g. ?createdTimeFrom=2024-05-01T00:00:00Z "
                "(optionally createdTimeTo and runtimeStatus).",
            )
        created_to = parse_datetime(request, "createdTimeTo")
        statuses = parse_statuses(request)
        deleted = await self.service.purge_instances(created_from, created_to, statuses)
        if deleted == 0:
            raise ApiError(404, "NoInstancesPurged", "No ended instances match the filter; nothing was purged.")
        return json_response({"instancesDeleted": deleted})

    # ---- instance operations -------------------------------------------------------------------

    async def instance_operation(self, request: web.Request) -> web.Response:
        """POST /instances/{id}/{terminate|suspend|resume|rewind|restart}."""
        operation = request.match_info["operation"].lower()
        instance_id = request.match_info["instanceId"]
        if operation == "restart":
            return await self._restart(request, instance_id)
        if operation not in ("terminate", "suspend", "resume", "rewind"):
            raise ApiError(
                404,
                "UnknownOperation",
                f"Unknown instance operation {request.match_info['operation']!r}; "
                "use terminate, suspend, resume, rewind, restart or raiseEvent/{eventName}.",
            )
        reason = query_value(request, "reason")
        record = await self._existing(instance_id)
        if operation == "rewind":
            if record.runtime_status is not RuntimeStatus.FAILED:
                raise ApiError(
                    410,
                    "InstanceNotFailed",
                    f"Only Failed instances can be rewound, but {instance_id!r} is {record.runtime_status.value}.",
                )
            await self.service.rewind(instance_id, reason)
            return web.Response(status=202)
        if record.runtime_status.is_terminal:
            raise ApiError(
                410,
                "InstanceEnded",
                f"Instance {instance_id!r} has already ended ({record.runtime_status.value}); cannot {operation} it.",
            )
        if operation == "terminate":
            await self.service.terminate(instance_id, reason)
        elif operation == "suspend":
            await self.service.suspend(instance_id, reason)
        else:
            await self.service.resume(instance_id, reason)
        return web.Response(status=202)

    async def _restart(self, request: web.Request, instance_id: str) -> web.Response:
        new_instance_id = parse_bool(request, "restartWithNewInstanceId", True)
        wait_s = parse_wait(request)
        fail_500 = parse_bool(request, "returnInternalServerErrorOnFailure", False)
        await self._existing(instance_id)
        restarted_id = await self.service.restart(instance_id, new_instance_id)
        if self.is_rpc(request):
            # DurableOrchestrationClient.restart() returns the body as the new id (documented as str).
            return json_response(restarted_id, status=202)
        if wait_s is None:
            return self._check_status(request, restarted_id)
        return await self._wait_or_check_status(request, restarted_id, wait_s, fail_500)

    async def raise_event(self, request: web.Request) -> web.Response:
        """POST /instances/{id}/raiseEvent/{eventName}: JSON body, stored as the raw body text."""
        if request.match_info["operation"].lower() != "raiseevent":
            raise ApiError(
                404, "UnknownOperation", "Only raiseEvent takes a name segment: POST /instances/{id}/raiseEvent/{name}."
            )
        instance_id = request.match_info["instanceId"]
        event_name = request.match_info["eventName"]
        record = await self._existing(instance_id)
        if record.runtime_status.is_terminal:
            raise ApiError(
                410,
                "InstanceEnded",
                f"Instance {instance_id!r} has already ended ({record.runtime_status.value}); it takes no events.",
            )
        if not is_json_content_type(request):
            raise ApiError(
                400,
                "UnsupportedContentType",
                f"Only application/json request content is supported (got {request.content_type!r}); "
                "send the event data as JSON with Content-Type: application/json.",
            )
        body = await read_text(request)
        data: str | None = None
        if body.strip():
            require_json(body, "event data")
            data = body
        await self.service.raise_event(instance_id, event_name, data)
        return web.Response(status=202)
