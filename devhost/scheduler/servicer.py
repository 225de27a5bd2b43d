"""The Durable Task Scheduler's gRPC service (TaskHubSidecarService) over devhost's durable engines.

Semantics follow the reference backend shipped with durabletask 1.12 (durabletask/testing/in_memory_backend.py):
ALREADY_EXISTS for a start on a taken id unless the reuse policy lists its status, NOT_FOUND for an unknown
instance, FAILED_PRECONDITION for a restart of a running instance or a rewind of one that did not fail,
suspend/resume/terminate idempotent on instances already in that state, purges skip running instances.
Every refusal is a status code with a message saying what was wrong; an unexpected error is logged here
with its traceback and reaches the caller as INTERNAL with one line, never the traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from google.protobuf import empty_pb2, wrappers_pb2

from devhost.durable.engine import DurableEngine
from devhost.durable.entities import split_entity_id
from devhost.durable.models import InstanceQuery, InstanceRecord, RuntimeStatus
from devhost.errors import (
    DurableError,
    FunctionNotFoundError,
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceStateError,
    InvalidOperationError,
    InvalidRequestError,
)
from devhost.names import check_instance_id, check_name
from devhost.scheduler import conversions as conv
from devhost.scheduler.dispatch import ChunkOrderError, UnknownTokenError, WorkDispatcher, WorkFilters

log = logging.getLogger(__name__)

#: An idle GetWorkItems stream gets a HealthPing this often, well inside the SDK's 120 s silence timeout
#: (durabletask GrpcWorkerResiliencyOptions.silent_disconnect_timeout_seconds).
HEALTH_PING_SECONDS = 15.0
#: How long a Wait call waits when the client set no deadline.
DEFAULT_WAIT_SECONDS = 3600.0
#: QueryInstances / ListInstanceIds page size when the request names none (the reference's default).
DEFAULT_PAGE_SIZE = 100
#: Entities one QueryEntities call looks through (a local task hub holds far fewer).
MAX_ENTITIES = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_STATUS_OF_ERROR: dict[type[DurableError], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    FunctionNotFoundError: grpc.StatusCode.NOT_FOUND,
    InstanceNotFoundError: grpc.StatusCode.NOT_FOUND,
    InstanceExistsError: grpc.StatusCode.ALREADY_EXISTS,
    InstanceStateError: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidOperationError: grpc.StatusCode.FAILED_PRECONDITION,
}


@dataclass(frozen=True)
class TaskHub:
    """One task hub the endpoint serves: its engine and the dispatcher that hands its work to gRPC workers."""

    name: str
    engine: DurableEngine
    dispatcher: WorkDispatcher


class CallRefused(Exception):
    """A call the endpoint refuses before it reaches a hub (no such hub, no key)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Access:
    """Who may call: anyone on a loopback bind (as the emulator), else callers with the admin key as a Bearer token."""

    admin_key: str | None = None

    def check(self, metadata: dict[str, str]) -> None:
        """CallRefused(UNAUTHENTICATED) unless the call may go on."""
        if self.admin_key is None:
            return  # loopback: any token or none, as the emulator (SDK samples send an Azure token locally)
        scheme, _, token = metadata.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), self.admin_key):
            raise CallRefused(
                grpc.StatusCode.UNAUTHENTICATED,
                "this scheduler endpoint listens beyond loopback: send 'authorization: Bearer <admin key>' "
                "(the admin key is in the data directory's keys.json, or DEVHOST_ADMIN_KEY)",
            )


def _rpc(
    method: Callable[[Any, Any, grpc.aio.ServicerContext, TaskHub], Awaitable[Any]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """A unary RPC: the caller checked and its hub resolved, refusals mapped to status codes."""

    @functools.wraps(method)
    async def call(self: SchedulerServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            hub = self.hub_of(context)
            return await method(self, request, context, hub)
        except CallRefused as exc:
            await context.abort(exc.code, str(exc))
        except DurableError as exc:
            await context.abort(_STATUS_OF_ERROR.get(type(exc), grpc.StatusCode.FAILED_PRECONDITION), str(exc))
        except UnknownTokenError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except ChunkOrderError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("Scheduler endpoint: %s failed", method.__name__)
            await context.abort(
                grpc.StatusCode.INTERNAL, f"{method.__name__} failed in devhost: {type(exc).__name__}: {exc}"
            )

    return call


def _text(value: wrappers_pb2.StringValue, present: bool) -> str | None:
    return value.value if present else None


class SchedulerServicer(stubs.TaskHubSidecarServiceServicer):
    """TaskHubSidecarService over the task hubs; the taskhub metadata header picks one."""

    def __init__(self, hubs: list[TaskHub], access: Access, ping_seconds: float = HEALTH_PING_SECONDS) -> None:
        self.hubs = {hub.name.lower(): hub for hub in hubs}
        self.access = access
        self.ping_seconds = ping_seconds

    def hub_of(self, context: grpc.aio.ServicerContext) -> TaskHub:
        """The call's task hub (its taskhub header; the first hub without one), after the access check."""
        metadata = {
            key.lower(): value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
        }
        self.access.check(metadata)
        name = metadata.get("taskhub")
        if name is None:
            return next(iter(self.hubs.values()))
        hub = self.hubs.get(name.lower())
        if hub is None:
            known = ", ".join(sorted(h.name for h in self.hubs.values()))
            raise CallRefused(
                grpc.StatusCode.NOT_FOUND,
                f"task hub '{name}' does not exist; this endpoint serves: {known} (choose with --task-hubs)",
            )
        return hub

    # ---------------------------------------------------------------- instances
    @_rpc
    async def Hello(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext, hub: TaskHub) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    @_rpc
    async def StartInstance(
        self, request: pb.CreateInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CreateInstanceResponse:
        name = check_name(request.name, "orchestration name")
        instance_id = check_instance_id(request.instanceId) if request.instanceId else None
        if instance_id is not None:
            existing = await hub.engine.get_instance(instance_id)
            replaceable = set(request.orchestrationIdReusePolicy.replaceableStatus)
            if existing is not None and conv.orchestration_status(existing.runtime_status) not in replaceable:
                raise InstanceExistsError(
                    f"an orchestration instance with id '{instance_id}' already exists "
                    f"({existing.runtime_status.value}); pick another id or purge it first"
                )
        start_at = (
            request.scheduledStartTimestamp.ToDatetime(UTC) if request.HasField("scheduledStartTimestamp") else None
        )
        started = await hub.engine.start_orchestration(
            name,
            instance_id,
            _text(request.input, request.HasField("input")),
            exact_input=True,
            start_at=start_at,
            version=request.version.value if request.HasField("version") else "",
            tags=dict(request.tags) or None,
        )
        return pb.CreateInstanceResponse(instanceId=started)

    @_rpc
    async def GetInstance(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.GetInstanceResponse:
        record = await hub.engine.get_instance(request.instanceId)
        return _instance_response(record, request.getInputsAndOutputs)

    @_rpc
    async def WaitForInstanceStart(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.GetInstanceResponse:
        started = frozenset(RuntimeStatus) - {RuntimeStatus.PENDING}
        return await self._wait(request, context, hub, started, "start")

    @_rpc
    async def WaitForInstanceCompletion(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.GetInstanceResponse:
        return await self._wait(request, context, hub, None, "complete")

    async def _wait(
        self,
        request: pb.GetInstanceRequest,
        context: grpc.aio.ServicerContext,
        hub: TaskHub,
        statuses: frozenset[RuntimeStatus] | None,
        what: str,
    ) -> pb.GetInstanceResponse:
        remaining = context.time_remaining()
        timeout = DEFAULT_WAIT_SECONDS if remaining is None else max(0.0, remaining - 0.05)
        record = await hub.engine.wait_for_instance(request.instanceId, timeout, statuses)
        if record is None:
            return pb.GetInstanceResponse(exists=False)
        reached = record.runtime_status in statuses if statuses else record.runtime_status.is_terminal
        if not reached:
            raise CallRefused(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"timed out waiting for instance '{request.instanceId}' to {what} "
                f"(it is {record.runtime_status.value})",
            )
        return _instance_response(record, request.getInputsAndOutputs)

    @_rpc
    async def RaiseEvent(
        self, request: pb.RaiseEventRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.RaiseEventResponse:
        check_instance_id(request.instanceId)
        await hub.engine.raise_event(request.instanceId, request.name, _text(request.input, request.HasField("input")))
        return pb.RaiseEventResponse()

    @_rpc
    async def TerminateInstance(
        self, request: pb.TerminateRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.TerminateResponse:
        record = await _existing(hub, request.instanceId)
        output = _text(request.output, request.HasField("output"))
        await _terminate(hub, record, output, request.recursive)
        return pb.TerminateResponse()

    @_rpc
    async def SuspendInstance(
        self, request: pb.SuspendRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.SuspendResponse:
        record = await _existing(hub, request.instanceId)
        if record.runtime_status != RuntimeStatus.SUSPENDED:
            await hub.engine.suspend(request.instanceId, _text(request.reason, request.HasField("reason")))
        return pb.SuspendResponse()

    @_rpc
    async def ResumeInstance(
        self, request: pb.ResumeRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.ResumeResponse:
        record = await _existing(hub, request.instanceId)
        if record.runtime_status.is_terminal:
            raise InstanceStateError(
                f"instance '{request.instanceId}' has ended ({record.runtime_status.value}); it cannot be resumed"
            )
        if record.runtime_status == RuntimeStatus.SUSPENDED:
            await hub.engine.resume(request.instanceId, _text(request.reason, request.HasField("reason")))
        return pb.ResumeResponse()

    @_rpc
    async def RestartInstance(
        self, request: pb.RestartInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.RestartInstanceResponse:
        record = await _existing(hub, request.instanceId)
        if not record.runtime_status.is_terminal:
            raise InstanceStateError(
                f"instance '{request.instanceId}' is {record.runtime_status.value}; only ended instances restart"
            )
        target = None if request.restartWithNewInstanceId else request.instanceId
        started = await hub.engine.start_orchestration(record.name, target, record.input, exact_input=True)
        return pb.RestartInstanceResponse(instanceId=started)

    @_rpc
    async def RewindInstance(
        self, request: pb.RewindInstanceRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.RewindInstanceResponse:
        await _existing(hub, request.instanceId)
        await hub.engine.rewind(request.instanceId, _text(request.reason, request.HasField("reason")))
        return pb.RewindInstanceResponse()

    @_rpc
    async def QueryInstances(
        self, request: pb.QueryInstancesRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.QueryInstancesResponse:
        query = request.query
        statuses = frozenset(conv.runtime_status(s) for s in query.runtimeStatus) or None
        page = await hub.engine.query_instances(
            InstanceQuery(
                created_from=query.createdTimeFrom.ToDatetime(UTC) if query.HasField("createdTimeFrom") else None,
                created_to=query.createdTimeTo.ToDatetime(UTC) if query.HasField("createdTimeTo") else None,
                statuses=statuses,
                instance_id_prefix=query.instanceIdPrefix.value if query.HasField("instanceIdPrefix") else None,
                page_size=query.maxInstanceCount if query.maxInstanceCount > 0 else DEFAULT_PAGE_SIZE,
                continuation_token=query.continuationToken.value or None
                if query.HasField("continuationToken")
                else None,
            )
        )
        return pb.QueryInstancesResponse(
            orchestrationState=[conv.orchestration_state(r, query.fetchInputsAndOutputs) for r in page.instances],
            continuationToken=conv.text_value(page.continuation_token),
        )

    @_rpc
    async def ListInstanceIds(
        self, request: pb.ListInstanceIdsRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.ListInstanceIdsResponse:
        # Ended instances by completion time, then id; the page token is the last (time, id) given out.
        wanted = frozenset(conv.runtime_status(s) for s in request.runtimeStatus) or None
        since = request.completedTimeFrom.ToDatetime(UTC) if request.HasField("completedTimeFrom") else None
        until = request.completedTimeTo.ToDatetime(UTC) if request.HasField("completedTimeTo") else None
        ended = [
            r
            for r in await _all_instances(hub)
            if r.runtime_status.is_terminal
            and r.completed_time is not None
            and (wanted is None or r.runtime_status in wanted)
            and (since is None or r.completed_time >= since)
            and (until is None or r.completed_time < until)
        ]
        ended.sort(key=lambda r: (r.completed_time or _EPOCH, r.instance_id))
        if request.HasField("lastInstanceKey") and request.lastInstanceKey.value:
            stamp, _, last_id = request.lastInstanceKey.value.partition("|")
            try:
                cursor = (datetime.fromisoformat(stamp), last_id)
            except ValueError:
                raise InvalidRequestError(
                    f"lastInstanceKey {request.lastInstanceKey.value!r} is not a key this endpoint gave out"
                ) from None
            ended = [r for r in ended if (r.completed_time or _EPOCH, r.instance_id) > cursor]
        size = request.pageSize if request.pageSize > 0 else DEFAULT_PAGE_SIZE
        page = ended[:size]
        token = None
        if len(ended) > size and page:
            last = page[-1]
            token = wrappers_pb2.StringValue(value=f"{(last.completed_time or _EPOCH).isoformat()}|{last.instance_id}")
        return pb.ListInstanceIdsResponse(instanceIds=[r.instance_id for r in page], lastInstanceKey=token)

    @_rpc
    async def PurgeInstances(
        self, request: pb.PurgeInstancesRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.PurgeInstancesResponse:
        count = 0
        if request.instanceId:
            count = await _purge(hub, request.instanceId, request.recursive)
        elif request.HasField("purgeInstanceFilter"):
            purge = request.purgeInstanceFilter
            statuses = frozenset(conv.runtime_status(s) for s in purge.runtimeStatus) or None
            count = await hub.engine.purge_instances(
                purge.createdTimeFrom.ToDatetime(UTC) if purge.HasField("createdTimeFrom") else _EPOCH,
                purge.createdTimeTo.ToDatetime(UTC) if purge.HasField("createdTimeTo") else None,
                statuses,
            )
        elif request.HasField("instanceBatch"):
            for instance_id in request.instanceBatch.instanceIds:
                count += await _purge(hub, instance_id, request.recursive)
        else:
            raise InvalidRequestError("a purge needs an instance id, an instance filter or a batch of instance ids")
        return pb.PurgeInstancesResponse(deletedInstanceCount=count, isComplete=wrappers_pb2.BoolValue(value=True))

    async def StreamInstanceHistory(
        self, request: pb.StreamInstanceHistoryRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.HistoryChunk]:
        try:
            hub = self.hub_of(context)
            await _existing(hub, request.instanceId)
        except CallRefused as exc:
            await context.abort(exc.code, str(exc))
        except DurableError as exc:
            await context.abort(_STATUS_OF_ERROR.get(type(exc), grpc.StatusCode.FAILED_PRECONDITION), str(exc))
        events = await hub.engine.get_history(request.instanceId)
        for start in range(0, max(1, len(events)), 500):  # chunks well under gRPC's 4 MB message limit
            yield pb.HistoryChunk(events=conv.history_events(events[start : start + 500]))

    # ---------------------------------------------------------------- the worker's stream
    async def GetWorkItems(
        self, request: pb.GetWorkItemsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WorkItem]:
        try:
            hub = self.hub_of(context)
        except CallRefused as exc:
            await context.abort(exc.code, str(exc))
        stream = hub.dispatcher.connect(WorkFilters.of_request(request))
        try:
            while True:
                try:
                    item = await asyncio.wait_for(stream.outbox.get(), self.ping_seconds)
                except TimeoutError:
                    item = pb.WorkItem(healthPing=pb.HealthPing())
                yield item
        finally:
            hub.dispatcher.disconnect(stream)

    @_rpc
    async def CompleteOrchestratorTask(
        self, request: pb.OrchestratorResponse, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CompleteTaskResponse:
        hub.dispatcher.complete(request.completionToken, request)  # chunks of a partial response are joined there
        return pb.CompleteTaskResponse()

    @_rpc
    async def CompleteActivityTask(
        self, request: pb.ActivityResponse, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CompleteTaskResponse:
        hub.dispatcher.complete(request.completionToken, request)
        return pb.CompleteTaskResponse()

    @_rpc
    async def AbandonTaskOrchestratorWorkItem(
        self, request: pb.AbandonOrchestrationTaskRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.AbandonOrchestrationTaskResponse:
        hub.dispatcher.abandon(request.completionToken, "orchestration")
        return pb.AbandonOrchestrationTaskResponse()

    @_rpc
    async def AbandonTaskActivityWorkItem(
        self, request: pb.AbandonActivityTaskRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.AbandonActivityTaskResponse:
        hub.dispatcher.abandon(request.completionToken, "activity")
        return pb.AbandonActivityTaskResponse()

    @_rpc
    async def AbandonTaskEntityWorkItem(
        self, request: pb.AbandonEntityTaskRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.AbandonEntityTaskResponse:
        hub.dispatcher.abandon(request.completionToken, "entity")
        return pb.AbandonEntityTaskResponse()

    @_rpc
    async def CompleteEntityTask(
        self, request: pb.EntityBatchResult, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CompleteTaskResponse:
        hub.dispatcher.complete(request.completionToken, request)
        return pb.CompleteTaskResponse()

    # ---------------------------------------------------------------- task hubs
    @_rpc
    async def CreateTaskHub(
        self, request: pb.CreateTaskHubRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CreateTaskHubResponse:
        # The hubs exist from the start (--task-hubs); as in the reference backend, creating one is a no-op.
        return pb.CreateTaskHubResponse()

    @_rpc
    async def DeleteTaskHub(
        self, request: pb.DeleteTaskHubRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.DeleteTaskHubResponse:
        raise CallRefused(
            grpc.StatusCode.UNIMPLEMENTED,
            f"devhost does not delete task hub '{hub.name}' over gRPC: purge its instances, or stop devhost and "
            "delete the hub's folder in the data directory",
        )

    @_rpc
    async def SkipGracefulOrchestrationTerminations(
        self,
        request: pb.SkipGracefulOrchestrationTerminationsRequest,
        context: grpc.aio.ServicerContext,
        hub: TaskHub,
    ) -> pb.SkipGracefulOrchestrationTerminationsResponse:
        raise CallRefused(
            grpc.StatusCode.UNIMPLEMENTED,
            "SkipGracefulOrchestrationTerminations is not supported by devhost's scheduler endpoint; "
            "use TerminateInstance",
        )

    # ---------------------------------------------------------------- entities
    @_rpc
    async def SignalEntity(
        self, request: pb.SignalEntityRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.SignalEntityResponse:
        name, key = _entity_name_and_key(request.instanceId)
        check_name(request.name, "entity operation")
        # Stored as the Durable SDK reads an operation input: JSON text whose value is the JSON text sent.
        operation_input = json.dumps(request.input.value) if request.HasField("input") else None
        # A scheduled signal waits in the task hub until its time (the reference backend delays it the same way).
        scheduled = request.scheduledTime.ToDatetime(UTC) if request.HasField("scheduledTime") else None
        await hub.engine.signal_entity(name, key, request.name, operation_input, scheduled_time=scheduled)
        return pb.SignalEntityResponse()

    @_rpc
    async def GetEntity(
        self, request: pb.GetEntityRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.GetEntityResponse:
        name, key = _entity_name_and_key(request.instanceId)
        record = await hub.engine.read_entity(name, key)
        if record is None:
            return pb.GetEntityResponse(exists=False)
        return pb.GetEntityResponse(exists=True, entity=conv.entity_metadata(record, request.includeState))

    @_rpc
    async def QueryEntities(
        self, request: pb.QueryEntitiesRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.QueryEntitiesResponse:
        query = request.query
        prefix = query.instanceIdStartsWith.value if query.HasField("instanceIdStartsWith") else ""
        since = query.lastModifiedFrom.ToDatetime(UTC) if query.HasField("lastModifiedFrom") else None
        until = query.lastModifiedTo.ToDatetime(UTC) if query.HasField("lastModifiedTo") else None
        matching = [
            record
            for record in await hub.engine.list_entities(None, page_size=MAX_ENTITIES)
            if record.entity_id.startswith(prefix)
            and (since is None or (record.last_operation_time is not None and record.last_operation_time >= since))
            and (until is None or (record.last_operation_time is not None and record.last_operation_time < until))
        ]
        # The page token is the offset of the next page in this order (name, key).
        start = int(query.continuationToken.value) if query.continuationToken.value.isdigit() else 0
        size = query.pageSize.value if query.HasField("pageSize") and query.pageSize.value > 0 else DEFAULT_PAGE_SIZE
        page = matching[start : start + size]
        token = str(start + size) if start + size < len(matching) else None
        return pb.QueryEntitiesResponse(
            entities=[conv.entity_metadata(record, query.includeState) for record in page],
            continuationToken=conv.text_value(token),
        )

    @_rpc
    async def CleanEntityStorage(
        self, request: pb.CleanEntityStorageRequest, context: grpc.aio.ServicerContext, hub: TaskHub
    ) -> pb.CleanEntityStorageResponse:
        # An entity without state is invisible to every read here: there is nothing to remove. A lock is orphaned
        # when its orchestration no longer runs (the reference backend checks that its holder still exists). The
        # store already releases an execution's locks when it ends, so this normally finds none.
        released = await hub.engine.release_orphaned_locks() if request.releaseOrphanedLocks else 0
        return pb.CleanEntityStorageResponse(emptyEntitiesRemoved=0, orphanedLocksReleased=released)


def _entity_name_and_key(instance_id: str) -> tuple[str, str]:
    try:
        name, key = split_entity_id(instance_id)
    except ValueError:
        raise InvalidRequestError(f"entity instance id {instance_id!r} is not of the form '@name@key'") from None
    check_name(name, "entity name")
    check_name(key, "entity key")
    return name, key


def _instance_response(record: InstanceRecord | None, include_payloads: bool) -> pb.GetInstanceResponse:
    if record is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(exists=True, orchestrationState=conv.orchestration_state(record, include_payloads))


async def _existing(hub: TaskHub, instance_id: str) -> InstanceRecord:
    check_instance_id(instance_id)
    record = await hub.engine.get_instance(instance_id)
    if record is None:
        raise InstanceNotFoundError(f"no orchestration instance with id '{instance_id}' in task hub '{hub.name}'")
    return record


async def _terminate(hub: TaskHub, record: InstanceRecord, output: str | None, recursive: bool) -> None:
    """Terminate an instance unless it has ended (and with recursive its running sub-orchestrations)."""
    if not record.runtime_status.is_terminal:
        reason = "terminated by a client"
        with contextlib.suppress(InstanceStateError):  # it ended meanwhile: as good as terminated
            await hub.engine.terminate(record.instance_id, reason, output_json=output)
    if recursive:
        for child in await _all_instances(hub):
            if child.parent_instance_id == record.instance_id:
                await _terminate(hub, child, output, True)


async def _all_instances(hub: TaskHub) -> list[InstanceRecord]:
    records: list[InstanceRecord] = []
    token: str | None = None
    while True:
        page = await hub.engine.query_instances(InstanceQuery(page_size=1000, continuation_token=token))
        records.extend(page.instances)
        token = page.continuation_token
        if token is None:
            return records


async def _purge(hub: TaskHub, instance_id: str, recursive: bool) -> int:
    """Purge one ended instance (and with recursive its sub-orchestrations); running ones are skipped."""
    record = await hub.engine.get_instance(instance_id)
    if record is None or not record.runtime_status.is_terminal:
        return 0
    count = 0
    if recursive:
        for child in await _all_instances(hub):
            if child.parent_instance_id == instance_id:
                count += await _purge(hub, child.instance_id, True)
    return count + await hub.engine.purge_instance(instance_id)
