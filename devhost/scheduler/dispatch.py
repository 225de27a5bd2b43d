"""Hands the engine's work to connected gRPC workers: the engine's DurableRunner for the names the app does not
define, over the workers' GetWorkItems streams.

A work item goes to a connected worker whose filters accept its name (round robin among them); with none, the
engine is told so (RunnerUnavailable): it keeps the item in its store, holds no slot or instance lock for it,
and tries again when a worker connects (DurableEngine.unpark). Each hand-out gets a fresh completion token; a
worker that abandons an item, or whose stream ends, gives its items back and they go to the next worker that
accepts them. A token is good for one completion: a late answer from a worker whose item was handed out again is
refused, so nothing is recorded twice. The engine keeps the durable state (work items, inbox, history) in its
store; what is here is only who holds what right now, so a restart loses nothing: the engine hands its pending
work out again.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from durabletask.internal import orchestrator_service_pb2 as pb

from devhost.durable.history import Event
from devhost.durable.models import ActivityFailure, EpisodeContext, RunnerUnavailable
from devhost.durable.protocol import EventType
from devhost.ids import random_uuid
from devhost.scheduler import conversions as conv

log = logging.getLogger(__name__)

WorkKind = Literal["orchestration", "activity", "entity"]
#: A name -> accepted versions map (an empty set accepts any version); None accepts every name.
NameFilter = dict[str, frozenset[str]] | None
#: Loads the stored history of an instance's current execution (DurableEngine.get_history).
HistoryLoader = Callable[[str], Awaitable[list[Event]]]
#: What a worker answers a work item with.
Answer = pb.OrchestratorResponse | pb.ActivityResponse | pb.EntityBatchResult
#: Tells the engine to try the work it parked again (DurableEngine.unpark).
Unpark = Callable[[], None]


#: Instances whose converted past events are kept between episodes (replaying a history costs its conversion).
PAST_CACHE_INSTANCES = 1000
#: How long an abandoned work item rests before it is handed out again (DTFx backends also delay an abandoned
#: message's return rather than redeliver it at once).
ABANDON_DELAY_SECONDS = 1.0


class UnknownTokenError(Exception):
    """A completion or abandon named a token that was never issued, or whose item was completed or abandoned."""


class ChunkOrderError(Exception):
    """A chunk of a chunked orchestrator response arrived out of order (its chunkIndex is not the next one)."""


@dataclass(frozen=True)
class WorkFilters:
    """What a worker takes (GetWorkItemsRequest.workItemFilters); no filters at all take everything."""

    orchestrations: NameFilter = None
    activities: NameFilter = None
    entities: NameFilter = None

    @classmethod
    def of_request(cls, request: pb.GetWorkItemsRequest) -> WorkFilters:
        """The filters a GetWorkItems request carries (durabletask's WorkItemFilters._to_grpc)."""
        if not request.HasField("workItemFilters"):
            return cls()
        filters = request.workItemFilters

        def names(items: list[pb.OrchestrationFilter] | list[pb.ActivityFilter]) -> dict[str, frozenset[str]]:
            out: dict[str, frozenset[str]] = {}
            for item in items:
                out[item.name] = out.get(item.name, frozenset()) | frozenset(item.versions)
            return out

        return cls(
            names(list(filters.orchestrations)),
            names(list(filters.activities)),
            {item.name: frozenset() for item in filters.entities},
        )

    def accepts(self, kind: WorkKind, name: str) -> bool:
        """Whether a worker with these filters takes a work item of this kind and name (any version)."""
        accepted = {"orchestration": self.orchestrations, "activity": self.activities, "entity": self.entities}[kind]
        return accepted is None or name in accepted


@dataclass(eq=False)
class _Work:
    kind: WorkKind
    name: str
    item: pb.WorkItem
    future: asyncio.Future[Answer]
    token: str = ""
    holder: WorkerStream | None = None
    #: Actions of a chunked orchestrator response received so far (its isPartial chunks), in order.
    chunks: list[pb.OrchestratorAction] = field(default_factory=list)
    next_chunk: int = 0


@dataclass(eq=False)
class WorkerStream:
    """One connected worker's GetWorkItems stream: the items to send it and the ones it holds."""

    filters: WorkFilters
    label: str
    outbox: asyncio.Queue[pb.WorkItem] = field(default_factory=asyncio.Queue)
    held: dict[str, _Work] = field(default_factory=dict)


class WorkDispatcher:
    """The engine's DurableRunner for gRPC workers (one per task hub)."""

    def __init__(self, hub: str) -> None:
        self.hub = hub
        self._issued: dict[str, _Work] = {}
        self._streams: list[WorkerStream] = []
        self._turn = itertools.count()
        self._labels = itertools.count(1)
        self._history: HistoryLoader | None = None
        self._unpark: Unpark = lambda: None
        #: (kind, name) of work already logged as waiting for a worker.
        self._told_waiting: set[tuple[WorkKind, str]] = set()
        #: Past events by instance, converted and as stored, least recently used first.
        self._past: collections.OrderedDict[str, tuple[list[pb.HistoryEvent], list[Event]]] = collections.OrderedDict()

    def bind(self, history: HistoryLoader, unpark: Unpark) -> None:
        """The engine made with this runner (it exists only after the runner): where past events come from, and
        how to tell it that turned-away work may run now."""
        self._history = history
        self._unpark = unpark

    @property
    def connected(self) -> int:
        """Worker streams open now."""
        return len(self._streams)

    # ---------------------------------------------------------------- DurableRunner
    async def orchestrate(self, function: str, instance_id: str, context: EpisodeContext) -> str | BaseException:
        """One episode in a gRPC worker: past and new events out, its actions back as an OrchestratorState."""
        assert self._history is not None, "bind() the dispatcher to its engine first"
        new: list[Event] = json.loads(context.current_json)["history"]
        starts = any(int(event["EventType"]) == EventType.EXECUTION_STARTED for event in new)
        past = [] if starts else await self._history(instance_id)
        request = pb.OrchestratorRequest(
            instanceId=instance_id, pastEvents=self._converted(instance_id, past), newEvents=conv.history_events(new)
        )
        response = await self._submit("orchestration", function, pb.WorkItem(orchestratorRequest=request))
        assert isinstance(response, pb.OrchestratorResponse)
        if any(action.HasField("completeOrchestration") for action in response.actions):
            self._past.pop(instance_id, None)
        return conv.orchestrator_state(past, response)

    def _converted(self, instance_id: str, past: list[Event]) -> list[pb.HistoryEvent]:
        """The past events as protobuf, converting only the events the instance's previous episode did not have
        (within an execution the stored history only grows; a new execution or a rewind fails the comparison)."""
        cached = self._past.get(instance_id)
        converted: list[pb.HistoryEvent] = []
        if cached is not None:
            events, sources = cached
            # Comparing the stored events costs a fraction of converting them again.
            if len(sources) <= len(past) and past[: len(sources)] == sources:
                converted = events
        converted = converted + conv.history_events(past[len(converted) :])
        self._past[instance_id] = (converted, past)
        self._past.move_to_end(instance_id)
        while len(self._past) > PAST_CACHE_INSTANCES:
            self._past.popitem(last=False)
        return converted

    async def activity(self, function: str, instance_id: str, input_json: str | None) -> str:
        """One activity in a gRPC worker: its result JSON text, or ActivityFailure with its failure details."""
        request = pb.ActivityRequest(
            name=function,
            input=conv.text_value(input_json),
            orchestrationInstance=pb.OrchestrationInstance(instanceId=instance_id),
        )
        response = await self._submit("activity", function, pb.WorkItem(activityRequest=request))
        assert isinstance(response, pb.ActivityResponse)
        if response.HasField("failureDetails"):
            raise ActivityFailure(*conv.failure_parts(response.failureDetails))
        return response.result.value if response.HasField("result") else "null"

    async def entity(self, function: str, entity_id: str, request_json: str) -> str:
        """One entity batch in a gRPC worker: the engine's batch request out, the Durable batch response back."""
        request = conv.entity_batch_request(entity_id, request_json)
        response = await self._submit("entity", function, pb.WorkItem(entityRequest=request))
        assert isinstance(response, pb.EntityBatchResult)
        return conv.entity_batch_response(response)

    # ---------------------------------------------------------------- the servicer's side
    def connect(self, filters: WorkFilters) -> WorkerStream:
        """A worker opened GetWorkItems: the engine tries the work it parked again."""
        stream = WorkerStream(filters, f"worker-{next(self._labels)}")
        self._streams.append(stream)
        log.info("Task hub '%s': %s connected (%d connected)", self.hub, stream.label, len(self._streams))
        self._told_waiting.clear()
        self._unpark()
        return stream

    def disconnect(self, stream: WorkerStream) -> None:
        """A worker's stream ended: what it held goes to the others (or waits)."""
        if stream in self._streams:
            self._streams.remove(stream)
        held = list(stream.held.values())
        stream.held.clear()
        for work in held:
            self._issued.pop(work.token, None)
            self._offer(work)
        log.info(
            "Task hub '%s': %s disconnected; %d work item(s) it held handed out again",
            self.hub,
            stream.label,
            len(held),
        )

    def complete(self, token: str, response: Answer) -> None:
        """A worker's answer for the item issued under token (UnknownTokenError when there is none)."""
        kind: WorkKind = (
            "orchestration"
            if isinstance(response, pb.OrchestratorResponse)
            else "activity"
            if isinstance(response, pb.ActivityResponse)
            else "entity"
        )
        if isinstance(response, pb.OrchestratorResponse) and (response.isPartial or self._chunked(token)):
            merged = self._add_chunk(token, response)
            if merged is None:
                return  # more chunks to come: the item stays out under the same token
            response = merged
        work = self._take(token, kind)
        if not work.future.done():
            work.future.set_result(response)

    def _chunked(self, token: str) -> bool:
        work = self._issued.get(token)
        return work is not None and work.next_chunk > 0

    def _add_chunk(self, token: str, response: pb.OrchestratorResponse) -> pb.OrchestratorResponse | None:
        """One chunk of a chunked orchestrator response (SDKs split a completion too big for one message:
        isPartial on every chunk but the last, chunkIndex counting from 0): None until the last chunk, then the
        whole response, its actions in chunk order."""
        work = self._issued.get(token)
        if work is None or work.kind != "orchestration":
            raise UnknownTokenError(
                f"no orchestration work item is out under completion token '{token}': it was never issued, or it "
                "was already completed or abandoned"
            )
        index = response.chunkIndex.value if response.HasField("chunkIndex") else work.next_chunk
        if index != work.next_chunk:
            raise ChunkOrderError(
                f"orchestrator response chunk {index} for instance '{response.instanceId}' arrived, chunk "
                f"{work.next_chunk} was expected next: send the chunks of one completion in order, from 0"
            )
        work.next_chunk += 1
        work.chunks.extend(response.actions)
        if response.isPartial:
            return None
        whole = pb.OrchestratorResponse()
        whole.CopyFrom(response)
        del whole.actions[:]
        whole.actions.extend(work.chunks)
        whole.isPartial = False
        whole.ClearField("chunkIndex")
        return whole

    def abandon(self, token: str, kind: WorkKind) -> None:
        """A worker gives an item back: after ABANDON_DELAY_SECONDS it goes out again, to another worker when
        one accepts it (the delay keeps a worker that keeps abandoning from spinning)."""
        work = self._take(token, kind)
        holder, work.holder = work.holder, None
        asyncio.get_running_loop().call_later(ABANDON_DELAY_SECONDS, self._offer, work, holder)

    # ---------------------------------------------------------------- internals
    async def _submit(self, kind: WorkKind, name: str, item: pb.WorkItem) -> Answer:
        work = _Work(kind, name, item, asyncio.get_running_loop().create_future())
        self._offer(work)  # no await between this and the engine parking the work: a connect cannot slip in
        try:
            return await work.future
        finally:
            self._forget(work)

    def _offer(self, work: _Work, avoid: WorkerStream | None = None) -> None:
        if work.future.done():
            return
        work.holder = None
        candidates = [s for s in self._streams if s.filters.accepts(work.kind, work.name)]
        if len(candidates) > 1 and avoid in candidates:
            candidates.remove(avoid)  # give an abandoned item to somebody else when there is somebody else
        if not candidates:
            if (work.kind, work.name) not in self._told_waiting:  # once per name until a worker connects
                self._told_waiting.add((work.kind, work.name))
                log.info(
                    "Task hub '%s': no connected worker takes %s '%s'; its work waits in the task hub",
                    self.hub,
                    work.kind,
                    work.name,
                )
            work.future.set_exception(RunnerUnavailable(f"no connected worker takes {work.kind} '{work.name}'"))
            return
        stream = candidates[next(self._turn) % len(candidates)]
        work.token = random_uuid().hex
        work.holder = stream
        work.chunks, work.next_chunk = [], 0  # chunks sent under an earlier hand-out's token do not count
        sent = pb.WorkItem()
        sent.CopyFrom(work.item)  # a copy per hand-out: an earlier holder's queued copy keeps its own token
        sent.completionToken = work.token
        self._issued[work.token] = work
        stream.held[work.token] = work
        stream.outbox.put_nowait(sent)

    def _take(self, token: str, kind: WorkKind) -> _Work:
        work = self._issued.get(token)
        if work is None or work.kind != kind:
            raise UnknownTokenError(
                f"no {kind} work item is out under completion token '{token}': it was never issued, or it was "
                "already completed or abandoned (a worker that lost its stream gets its items taken back)"
            )
        del self._issued[token]
        if work.holder is not None:
            work.holder.held.pop(token, None)
        return work

    def _forget(self, work: _Work) -> None:
        """The engine stopped waiting (answered, or cancelled at shutdown): the item is nobody's any more."""
        if work.token:
            self._issued.pop(work.token, None)
        if work.holder is not None:
            work.holder.held.pop(work.token, None)
