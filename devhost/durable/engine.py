"""The durable engine: the task hub's dispatch loops and the DurableService API.

User code runs in the worker processes, reached through ``functions.runner``; every orchestrator
episode there replays the whole history, as the Durable extension has out-of-process languages do.

Loops (all started in ``start`` and stopped in ``stop``):
* orchestration workers (EPISODES_PER_SLOT per options.max_concurrent_orchestrations): take a ready
  instance, read its visible messages, run ONE episode for all of them in a worker (at most
  max_concurrent_orchestrations orchestrator functions run at once), commit it in one transaction, then
  dispatch the work it produced;
* activity workers (options.max_concurrent_activities): run work items in the workers; each completion
  (inbox message + work item deletion) is one write, group-committed with the others;
* entity workers: one batch of operations per entity at a time, in order;
* a timer loop: wakes instances whose durable timers (invisible inbox messages) came due.

Only one episode per instance runs at a time; messages that arrive meanwhile mark it dirty, so the
next episode takes them all (completions that arrive together are applied together).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import heapq
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

from devhost.durable import entities as ent
from devhost.durable import history as h
from devhost.durable.clock import TaskHubClock
from devhost.durable.episode import (
    KIND_EVENT,
    CachedInstance,
    EpisodeOutcome,
    PendingEpisode,
    client_context_input,
    new_execution_id,
    parent_notice,
    plan_episode,
    start_message,
    updated_row,
)
from devhost.durable.history import Event
from devhost.durable.models import (
    ActivityFailure,
    DurableFunctions,
    EngineOptions,
    EntityRecord,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    RunnerUnavailable,
    RuntimeStatus,
    WaitingWork,
)
from devhost.durable.protocol import HTTP_ACTIVITY_NAME
from devhost.durable.rewind import plan_rewind
from devhost.durable.statistics import TaskHubStatistics
from devhost.durable.store import queries as q
from devhost.durable.store.sqlite import SqliteStore
from devhost.errors import (
    FunctionNotFoundError,
    InstanceNotFoundError,
    InstanceStateError,
    InvalidOperationError,
    InvalidRequestError,
)
from devhost.ids import random_uuid
from devhost.names import check_instance_id, check_name

log = logging.getLogger(__name__)

#: How long stop() lets running activities finish before cancelling them.
STOP_GRACE_SECONDS = 5.0
#: Completion batching: an instance whose last episode took at least DEFER_MIN_COST_S, and that still
#: waits for more completions than have arrived, runs its next episode at most DEFER_FACTOR times that
#: cost (capped at DEFER_MAX_S) later, so a fan-out of N activities replays a few times instead of
#: once per handful of completions (replay is O(history), so that was O(N^2)). It runs at once when
#: every open task has reported back. Messages stay in the store meanwhile; only the episode waits.
DEFER_MIN_COST_S = 0.005
DEFER_FACTOR = 4.0
DEFER_MAX_S = 1.0
#: Operations handed to an entity function in one batch.
ENTITY_BATCH = 100
#: Up to this many due inbox messages, and a history up to this size, are read on the event loop; more on the
#: reader pool.
INBOX_ON_LOOP = 64
HISTORY_ON_LOOP_BYTES = 64 * 1024
#: Episodes in flight (from reading an instance's inbox to committing its episode) per orchestrator function
#: allowed to run at once. maxConcurrentOrchestratorFunctions is "the maximum number of orchestrator functions
#: that can be processed concurrently" (DurableTaskOptions); here it bounds the orchestrator code running, and
#: an episode waiting for its commit holds none of it. (DTFx's WorkItemDispatcher keeps a slot until the work
#: item is completed, commit included: Azure/durabletask src/DurableTask.Core/WorkItemDispatcher.cs releases
#: its concurrency lock after ProcessWorkItem. User code cannot tell the two apart: either way at most that
#: many orchestrator functions run at once.) With one episode per slot, the slots filled and emptied
#: together: while a batch of episodes committed in the writer's group commit, the workers had nothing to
#: run, and while they ran the next batch, the host waited (W1 left a quarter of the two cores idle).
EPISODES_PER_SLOT = 2
#: Entity batches run at once, at most (and never more than the orchestration workers).
MAX_ENTITY_WORKERS = 4
#: Tries of an episode that fails in the host itself (not in user code) before its instance is failed,
#: and the wait before the next try, growing with each failure.
EPISODE_ERROR_TRIES = 3
EPISODE_RETRY_STEP_S = 0.5
#: Virtual time: how long advance_clock waits for running work to settle, before and after moving the clock.
VIRTUAL_TIME_SETTLE_S = 10.0
_ORCHESTRATION = "o"
_ENTITY = "e"


def _activity_event(item: q.WorkItem, result: str | BaseException, now: datetime) -> Event:
    """The event an activity run produces: TaskCompleted with its JSON result, or TaskFailed."""
    stamp = h.format_ts(now)
    if isinstance(result, ActivityFailure):
        return h.task_failed(stamp, item.task_id, result.reason, result.details)
    if isinstance(result, BaseException):  # an adapter bug must fail the task, not the host
        reason = f"Activity function '{item.name}' failed: {type(result).__name__}: {result}"
        return h.task_failed(stamp, item.task_id, reason, repr(result))
    return h.task_completed(stamp, item.task_id, result)


def _invalid_operation(operation: str, instance_id: str, status: RuntimeStatus) -> InvalidOperationError:
    """The extension's refusal of suspend/resume in a state that does not allow it (logged as it logs it)."""
    log.warning("Cannot %s orchestration instance in the %s state. Instance: %s", operation, status.value, instance_id)
    return InvalidOperationError(
        f"Cannot {operation} the orchestration instance {instance_id} because instance is in the {status.value} state."
    )


class _KeyedLocks:
    """One asyncio.Lock per key, dropped again when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _ReadyQueue:
    """Keys ready for work in first-in first-out order, each queued at most once; keys being worked on are
    marked dirty instead.

    No kind of work goes ahead of another, as in the Durable backends' queues (Azure Storage's control
    queues hand out messages in about the order they came). New instances' first episodes once went first:
    under a burst of starts that got every orchestration to Running sooner and every one of them to
    completion later.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.running: set[str] = set()
        self.dirty: set[str] = set()

    def mark(self, key: str) -> None:
        if key in self.running:
            self.dirty.add(key)
        elif key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    async def take(self) -> str:
        key = await self.queue.get()
        self.queued.discard(key)
        self.running.add(key)
        return key

    def done(self, key: str) -> None:
        self.running.discard(key)
        if key in self.dirty:
            self.dirty.discard(key)
            self.mark(key)


class DurableEngine:
    """A task hub on SQLite driving the app's durable functions (implements DurableService)."""

    def __init__(
        self,
        store: SqliteStore,
        functions: DurableFunctions,
        options: EngineOptions,
    ) -> None:
        self.task_hub = options.task_hub
        self.functions = functions
        self.options = options
        #: Episodes in which an orchestrator ran (tests assert batching with it).
        self.episodes = 0
        self._store = store
        #: The task hub's time (durable/clock.py); it only moves ahead of real time with options.virtual_time.
        self.clock = TaskHubClock()
        #: Aggregates for the dashboard's overview (dashboard HubStatistics).
        self.statistics = TaskHubStatistics(store)
        self._cache: dict[str, CachedInstance] = {}
        #: Instances whose episode commit is in flight: the store may show its result before the cache does.
        self._committing: set[str] = set()
        self._locks = _KeyedLocks()
        self._orchestrations = _ReadyQueue()
        #: Orchestrator functions running now, at most max_concurrent_orchestrations (see EPISODES_PER_SLOT).
        self._orchestrator_slots = asyncio.Semaphore(max(1, options.max_concurrent_orchestrations))
        self._entities = _ReadyQueue()
        self._activities: asyncio.Queue[q.WorkItem] = asyncio.Queue()
        self._timers: list[tuple[int, int, str, str]] = []
        self._timer_seq = itertools.count()
        self._timer_wakeup = asyncio.Event()
        self._status_events: dict[str, asyncio.Event] = {}
        self._failures: dict[str, int] = {}
        #: Completions committed per instance since its last episode read its inbox (batching hint).
        self._arrivals: dict[str, int] = {}
        #: When a deferred episode of an instance runs at the latest (time.monotonic()).
        self._deferred: dict[str, float] = {}
        self._work_ids: itertools.count[int] = itertools.count(1)
        self._workers: list[asyncio.Task[None]] = []
        self._activity_workers: list[asyncio.Task[None]] = []
        self._busy_activity_workers: set[asyncio.Task[None]] = set()
        #: Work the runner turned away (RunnerUnavailable), tried again on unpark().
        self._parked_instances: dict[str, str] = {}  # instance id -> orchestrator name
        self._parked_activities: list[q.WorkItem] = []
        self._parked_entities: set[str] = set()
        #: Activity results handed to the store and not committed yet (the task hub is not idle meanwhile).
        self._completions_in_flight = 0
        self._started = False
        self._stopping = False
        self._stopped = False

    # ================================================================ lifecycle
    @classmethod
    def open(
        cls,
        data_dir: Path,
        functions: DurableFunctions,
        options: EngineOptions,
    ) -> DurableEngine:
        """Open (or create) the task hub at data_dir/taskhub.sqlite; StoreLockedError/StoreCorruptError."""
        store = SqliteStore.open(Path(data_dir), options.task_hub)
        return cls(store, functions, options)

    async def start(self) -> None:
        """Recover pending work from the store and start the dispatch loops."""
        if self._started:
            return
        self._started = True
        if self.options.virtual_time:
            # Persisted, so a restart does not move the task hub's time back behind what it already wrote.
            self.clock.offset_us = await self._store.read(q.read_clock_offset)
            log.info("Virtual time is on (tests only): the task hub's clock is %s", h.format_ts(self.clock.now()))
        now_us = h.to_us(self.clock.now())
        max_work = await self._store.read(q.max_work_id)
        self._work_ids = itertools.count(max_work + 1)
        for item in await self._store.read(q.all_work_items):
            # At-least-once: whatever was in flight when the host stopped runs again.
            self._queue_activity(item)
        for instance_id, visible_us in await self._store.read(q.inbox_wakeups):
            if visible_us <= now_us:
                self._orchestrations.mark(instance_id)
        for instance_id, visible_us in await self._store.read(functools.partial(q.future_timers, now_us=now_us)):
            self._add_wakeup(_ORCHESTRATION, instance_id, visible_us)
        for entity_id in await self._store.read(q.entities_with_messages):
            self._entities.mark(entity_id)
        for entity_id, visible_us in await self._store.read(functools.partial(q.entity_wakeups, now_us=now_us)):
            self._add_wakeup(_ENTITY, entity_id, visible_us)
        for index in range(max(1, self.options.max_concurrent_orchestrations) * EPISODES_PER_SLOT):
            self._workers.append(asyncio.create_task(self._orchestration_worker(), name=f"orchestrations-{index}"))
        for index in range(max(1, min(MAX_ENTITY_WORKERS, self.options.max_concurrent_orchestrations))):
            self._workers.append(asyncio.create_task(self._entity_worker(), name=f"entities-{index}"))
        self._workers.append(asyncio.create_task(self._timer_loop(), name="durable-timers"))
        for index in range(max(1, self.options.max_concurrent_activities)):
            self._activity_workers.append(asyncio.create_task(self._activity_worker(), name=f"activities-{index}"))
        log.info("Durable task hub '%s' started (%s)", self.task_hub, self._store.path)

    async def stop(self) -> None:
        """Stop taking work, let running activities finish for a grace period, cancel the rest, close."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        idle = [task for task in self._activity_workers if task not in self._busy_activity_workers]
        for task in [*self._workers, *idle]:
            task.cancel()
        busy = [task for task in self._activity_workers if task in self._busy_activity_workers]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
        await asyncio.gather(*self._workers, *self._activity_workers, return_exceptions=True)
        self._workers.clear()
        self._activity_workers.clear()
        await asyncio.to_thread(self._store.close)
        log.info("Durable task hub '%s' stopped", self.task_hub)

    async def advance_clock(self, by: timedelta) -> datetime:
        """Virtual time: move the task hub's clock forward; timers now due fire at once. Returns the new time.

        InvalidOperationError when the host does not run with virtual time (Azure has no such thing)."""
        if not self.options.virtual_time:
            raise InvalidOperationError("the task hub's clock can only be moved when the host runs with virtual time")
        # Like Temporal's time-skipping test server (python.temporal.io, temporalio.testing.WorkflowEnvironment:
        # it "automatically skips time as needed", i.e. while workflows only wait), time moves only once what can
        # run now has run: an instance started just before must have created its timers from the old time.
        await self._until_idle(VIRTUAL_TIME_SETTLE_S)
        self.clock.advance(by)
        await self._store.write(functools.partial(q.write_clock_offset, offset_us=self.clock.offset_us))
        self._timer_wakeup.set()
        now = self.clock.now()
        log.info("Virtual time advanced by %s to %s", by, h.format_ts(now))
        await self._until_idle(VIRTUAL_TIME_SETTLE_S)
        return now

    def _idle(self) -> bool:
        """True when no durable work is running or due now (only future timers and external events remain)."""
        if self._timers and self._timers[0][0] <= h.to_us(self.clock.now()):
            return False
        queues = (self._orchestrations, self._entities)
        return (
            all(not ready.queued and not ready.running and not ready.dirty for ready in queues)
            and self._activities.empty()
            and not self._busy_activity_workers
            and not self._completions_in_flight
            and not self._deferred
        )

    async def _until_idle(self, timeout_s: float) -> None:
        """Wait until the task hub is idle twice in a row, for at most timeout_s (then go on regardless)."""
        deadline = time.monotonic() + timeout_s
        calm = 0
        while calm < 2 and time.monotonic() < deadline:
            calm = calm + 1 if self._idle() else 0
            await asyncio.sleep(0.002)
        if calm < 2:
            log.warning("Virtual time: the task hub was still busy after %.0f s; moving the clock anyway", timeout_s)

    def unpark(self) -> None:
        """The runner can take more now (a worker connected): try again the work it turned away."""
        instances, self._parked_instances = self._parked_instances, {}
        for instance_id in instances:
            self._orchestrations.mark(instance_id)
        activities, self._parked_activities = self._parked_activities, []
        for item in activities:
            self._queue_activity(item)
        entities, self._parked_entities = self._parked_entities, set()
        for entity_id in entities:
            self._entities.mark(entity_id)

    def waiting_work(self) -> list[WaitingWork]:
        """The work the runner turned away, waiting for someone who runs it (the dashboard shows it)."""
        waiting = [WaitingWork("orchestration", name, key) for key, name in self._parked_instances.items()]
        waiting += [WaitingWork("activity", item.name, item.instance_id) for item in self._parked_activities]
        waiting += [WaitingWork("entity", ent.split_entity_id(key)[0], key) for key in self._parked_entities]
        return waiting

    # ================================================================ scheduling helpers
    def _add_wakeup(self, kind: str, key: str, visible_us: int) -> None:
        heapq.heappush(self._timers, (visible_us, next(self._timer_seq), kind, key))
        self._timer_wakeup.set()

    async def _timer_loop(self) -> None:
        while True:
            now_us = h.to_us(self.clock.now())
            while self._timers and self._timers[0][0] <= now_us:
                _, _, kind, key = heapq.heappop(self._timers)
                (self._orchestrations if kind == _ORCHESTRATION else self._entities).mark(key)
            self._timer_wakeup.clear()
            timeout = (self._timers[0][0] - now_us) / 1_000_000 if self._timers else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wakeup.wait(), timeout)

    def _notify(self, instance_id: str) -> None:
        event = self._status_events.pop(instance_id, None)
        if event is not None:
            event.set()

    # ================================================================ orchestrations
    async def _orchestration_worker(self) -> None:
        while not self._stopping:
            instance_id = await self._orchestrations.take()
            try:
                await self._run_episode(instance_id)
                self._failures.pop(instance_id, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._episode_error(instance_id, exc)
            finally:
                self._orchestrations.done(instance_id)

    async def _episode_error(self, instance_id: str, exc: Exception) -> None:
        """An engine-side error in one instance: retry it a few times, then fail that instance only."""
        self._cache.pop(instance_id, None)
        count = self._failures.get(instance_id, 0) + 1
        self._failures[instance_id] = count
        if count < EPISODE_ERROR_TRIES:
            log.warning("Orchestration '%s' episode failed (%s); retrying", instance_id, exc, exc_info=exc)
            retry_us = int(EPISODE_RETRY_STEP_S * 1_000_000 * count)
            self._add_wakeup(_ORCHESTRATION, instance_id, h.to_us(self.clock.now()) + retry_us)
            return
        log.error("Orchestration '%s' failed repeatedly in the host; marking it Failed", instance_id, exc_info=exc)
        self._failures.pop(instance_id, None)
        try:
            await self._fail_instance(instance_id, f"The host could not process this instance: {exc}")
        except Exception as failing:  # the store itself is failing: say so, the host goes on with others
            log.error("Orchestration '%s' could not be marked Failed either", instance_id, exc_info=failing)

    async def _fail_instance(self, instance_id: str, message: str) -> None:
        async with self._locks.hold(instance_id):
            row = await self._store.read(functools.partial(q.get_instance, instance_id=instance_id))
            if row is None or row.record.runtime_status.is_terminal:
                return
            now = self.clock.now()
            stamp = h.format_ts(now)
            update, new_row = updated_row(
                row,
                now,
                runtime_status=RuntimeStatus.FAILED,
                output=json.dumps(message),
                failure_message=message,
                completed_time=now,
            )
            commit = q.EpisodeCommit(
                instance_id,
                history_chunk=[
                    h.execution_completed(stamp, RuntimeStatus.FAILED.orchestration_status_code, json.dumps(message))
                ],
                drop_inbox=True,
                drop_work_items=True,
                messages=parent_notice(row, now, None, (message, message)),
                update=update,
            )
            await self._commit_management(new_row, commit)

    def _defer_episode(self, instance_id: str) -> bool:
        """True when the instance's episode should wait for more completions (see DEFER_FACTOR)."""
        cached = self._cache.get(instance_id)
        if cached is None or cached.state is None or cached.episode_s < DEFER_MIN_COST_S:
            self._deferred.pop(instance_id, None)
            return False
        if self._arrivals.get(instance_id, 0) >= len(cached.state.open_ids):
            self._deferred.pop(instance_id, None)
            return False
        now = time.monotonic()
        due = self._deferred.get(instance_id)
        if due is None:
            delay = min(cached.episode_s * DEFER_FACTOR, DEFER_MAX_S)
            self._deferred[instance_id] = now + delay
            self._add_wakeup(_ORCHESTRATION, instance_id, h.to_us(self.clock.now()) + int(delay * 1_000_000))
            return True
        if now < due:
            return True  # its wakeup marks it again
        del self._deferred[instance_id]
        return False

    async def _run_episode(self, instance_id: str) -> None:
        async with self._locks.hold(instance_id):
            if self._defer_episode(instance_id):
                return
            cached = self._cache.get(instance_id)
            now = self.clock.now()
            self._arrivals.pop(instance_id, 0)
            messages = await self._read_inbox(instance_id, h.to_us(now))
            if not messages:
                return
            if cached is None:
                row = self._store.read_sync(functools.partial(q.get_instance, instance_id=instance_id))
                if row is None:
                    # Messages for an instance that no longer exists (purged): drop them.
                    orphan = q.EpisodeCommit(instance_id, consumed=[m.msg_id for m in messages])
                    await self._store.write(functools.partial(q.commit_episode, commit=orphan))
                    return
                cached = CachedInstance(row)
            history = None
            if cached.state is None:
                history = await self._load_history(instance_id)
            plan = plan_episode(cached, messages, self.functions, history, lambda: next(self._work_ids), now)
            try:
                outcome = await self._run_orchestrator(cached, plan) if isinstance(plan, PendingEpisode) else plan
            except RunnerUnavailable:
                # Nothing was committed: the messages stay in the inbox until a runner can take the episode.
                self._cache.pop(instance_id, None)
                self._parked_instances[instance_id] = cached.row.record.name
                return
            if outcome.commit is None:
                return
            self._committing.add(instance_id)
            try:
                touched = await self._store.write(functools.partial(q.commit_episode, commit=outcome.commit))
            except BaseException:
                self._cache.pop(instance_id, None)
                raise
            finally:
                self._committing.discard(instance_id)
            self._after_commit(instance_id, cached, outcome, touched)

    # An episode's reads are on the event loop while they are small: an indexed read of a few rows takes tens of
    # microseconds, and the reader pool's thread hop cost more than that on every episode (W1, W4 and W5 ran
    # faster without it). A big fan-in's inbox or a long history is read on the reader pool, off the loop.
    async def _read_inbox(self, instance_id: str, now_us: int) -> list[q.InboxMessage]:
        """The instance's due messages."""
        first = self._store.read_sync(
            functools.partial(q.read_inbox, instance_id=instance_id, now_us=now_us, limit=INBOX_ON_LOOP + 1)
        )
        if len(first) <= INBOX_ON_LOOP:
            return first
        return await self._store.read(functools.partial(q.read_inbox, instance_id=instance_id, now_us=now_us))

    async def _load_history(self, instance_id: str) -> list[Event]:
        """The instance's stored history."""
        load = functools.partial(q.load_history, instance_id=instance_id)
        if self._store.read_sync(functools.partial(q.history_bytes, instance_id=instance_id)) <= HISTORY_ON_LOOP_BYTES:
            return self._store.read_sync(load)
        return await self._store.read(load)

    async def _run_orchestrator(self, cached: CachedInstance, plan: PendingEpisode) -> EpisodeOutcome:
        """Run the episode's orchestrator in a worker and finish the episode with what it returned."""
        record = cached.row.record
        async with self._orchestrator_slots:
            started = time.monotonic()
            result = await self.functions.runner.orchestrate(plan.function, record.instance_id, plan.context)
            cached.episode_s = time.monotonic() - started
        return plan.finish(result)

    def _after_commit(
        self, instance_id: str, cached: CachedInstance | None, outcome: EpisodeOutcome, touched: list[str]
    ) -> None:
        if outcome.ran_orchestrator:
            self.episodes += 1
        self._parked_instances.pop(instance_id, None)  # e.g. terminated while it waited: it no longer waits
        if cached is not None and outcome.row is not None:
            cached.row = outcome.row
            cached.state = outcome.state
            if outcome.row.record.runtime_status.is_terminal:
                self._cache.pop(instance_id, None)
                self._log_end(outcome.row.record)
            else:
                self._cache[instance_id] = cached
        for item in outcome.work_items:
            self._queue_activity(item)
        for key, visible_us in outcome.wakeups:
            self._add_wakeup(_ORCHESTRATION, key, visible_us)
        for key in touched:
            self._orchestrations.mark(key)
        for entity_id in outcome.entity_ids:
            self._entities.mark(entity_id)
        for message in outcome.commit.entity_messages if outcome.commit is not None else []:
            if message.visible_us is not None:
                self._entity_arrived(message)  # a scheduled signal: its batch runs when it is due
        if outcome.status_changed:
            self._notify(instance_id)

    def _log_end(self, record: InstanceRecord) -> None:
        if record.runtime_status == RuntimeStatus.FAILED:
            log.warning("Orchestration '%s' (%s) failed: %s", record.name, record.instance_id, record.failure_message)
        else:
            log.info("Orchestration '%s' (%s) %s", record.name, record.instance_id, record.runtime_status.value)

    async def _commit_management(self, new_row: q.InstanceRow, commit: q.EpisodeCommit) -> list[str]:
        """Commit a management change of an instance (caller holds its lock) and dispatch around it."""
        instance_id = new_row.record.instance_id
        self._cache.pop(instance_id, None)
        touched = await self._store.write(functools.partial(q.commit_episode, commit=commit))
        for item in commit.work_items:
            self._queue_activity(item)
        for key in touched:
            self._orchestrations.mark(key)
        for message in commit.entity_messages:
            self._entity_arrived(message)
        self._notify(instance_id)
        return touched

    # ================================================================ activities
    def _queue_activity(self, item: q.WorkItem) -> None:
        self._activities.put_nowait(item)

    async def _activity_worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            item = await self._activities.get()
            self._busy_activity_workers.add(task)
            try:
                self._submit_completion(item, await self._run_activity(item))
            except RunnerUnavailable:
                self._parked_activities.append(item)  # still a work item in the store
            finally:
                self._busy_activity_workers.discard(task)

    def _submit_completion(self, item: q.WorkItem, event: Event) -> None:
        message = q.NewMessage(item.instance_id, item.execution_id, KIND_EVENT, event, h.to_us(self.clock.now()))
        # Not awaited: the next activity starts while this one is group-committed.
        future = self._store.submit(functools.partial(q.complete_work_item, work_id=item.work_id, message=message))
        self._completions_in_flight += 1
        future.add_done_callback(functools.partial(self._activity_committed, item))

    def _activity_committed(self, item: q.WorkItem, future: asyncio.Future[bool]) -> None:
        self._completions_in_flight -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("Could not store the result of activity '%s' (%s)", item.name, item.instance_id, exc_info=error)
            return
        if future.result():
            self._arrivals[item.instance_id] = self._arrivals.get(item.instance_id, 0) + 1
            self._orchestrations.mark(item.instance_id)

    async def _run_activity(self, item: q.WorkItem) -> Event:
        function = self.functions.activity(item.name)
        if function is None and item.name != HTTP_ACTIVITY_NAME:
            known = ", ".join(sorted(self.functions.activities)) or "none"
            return h.task_failed(
                h.format_ts(self.clock.now()),
                item.task_id,
                f"Activity function '{item.name}' does not exist.",
                f"Registered activity functions: {known}.",
            )
        try:
            if function is None:
                result: str | BaseException = await self.functions.http_activity(item.input)
            else:
                result = await self.functions.runner.activity(function, item.instance_id, item.input)
        except RunnerUnavailable:
            raise
        except Exception as exc:
            result = exc
        return _activity_event(item, result, self.clock.now())

    # ================================================================ entities
    async def _entity_worker(self) -> None:
        while not self._stopping:
            entity_id = await self._entities.take()
            try:
                await self._run_entity_batch(entity_id)
            except asyncio.CancelledError:
                raise
            except RunnerUnavailable:
                self._parked_entities.add(entity_id)  # its messages stay in the store
            except Exception:
                log.exception("Entity '%s' batch failed in the host; retrying shortly", entity_id)
                self._add_wakeup(_ENTITY, entity_id, h.to_us(self.clock.now()) + 1_000_000)
            finally:
                self._entities.done(entity_id)

    async def _run_entity_batch(self, entity_id: str) -> None:
        read = self._store.read
        due_us = h.to_us(self.clock.now())
        messages = await read(
            functools.partial(q.read_entity_inbox, entity_id=entity_id, limit=ENTITY_BATCH, now_us=due_us)
        )
        if not messages:
            return
        name, key = ent.split_entity_id(entity_id)
        record = await read(functools.partial(q.get_entity, entity_id=entity_id))
        state = record.state if record else None
        operations = [ent.EntityOperation(m.operation, m.input, m.request_id, m.reply_instance_id) for m in messages]
        outcome = await self._entity_batch(entity_id, name, key, state, operations)
        now = self.clock.now()
        replies = [
            q.NewMessage(
                message.reply_instance_id,
                message.reply_execution_id,
                KIND_EVENT,
                h.event_raised(h.format_ts(now), message.request_id, ent.reply_input(result)),
                h.to_us(now),
            )
            for message, result in zip(messages, outcome.results, strict=True)
            if message.request_id and message.reply_instance_id
        ]
        signals = [q.EntityMessage(s.entity_id, s.operation, s.input, visible_us=s.visible_us) for s in outcome.signals]
        starts = [self._entity_start(start, now) for start in outcome.starts]
        started = await self._store.write(
            functools.partial(
                q.commit_entity_batch,
                entity_id=entity_id,
                name=name,
                key=key,
                state=outcome.state if outcome.exists else None,
                last_op_us=h.to_us(now),
                consumed=[m.msg_id for m in messages],
                replies=replies,
                signals=signals,
                starts=starts,
            )
        )
        for reply in replies:
            self._orchestrations.mark(reply.instance_id)
        for signal in signals:
            self._entity_arrived(signal)
        for new, _ in starts:
            if new.instance_id in started:
                self._cache.pop(new.instance_id, None)
                self._orchestrations.mark(new.instance_id)
                self._notify(new.instance_id)
            else:
                log.warning(
                    "Entity '%s' started orchestration '%s' with id '%s', which is still running: not started again",
                    entity_id,
                    new.name,
                    new.instance_id,
                )
        if len(messages) == ENTITY_BATCH:
            self._entities.mark(entity_id)

    def _entity_start(self, start: ent.EntityStart, now: datetime) -> tuple[q.NewInstance, q.NewMessage]:
        """The instance row and ExecutionStarted message of an orchestration an entity started."""
        execution_id = new_execution_id()
        new = q.NewInstance(start.instance_id, execution_id, start.name, start.input, h.to_us(now))
        return new, start_message(start.instance_id, execution_id, start.name, start.input, now)

    async def _entity_batch(
        self, entity_id: str, name: str, key: str, state: str | None, operations: list[ent.EntityOperation]
    ) -> ent.BatchOutcome:
        """One batch through the entity function in a worker (every operation fails if it cannot run)."""
        function = self.functions.entity(name)
        if function is None:
            return ent.failed_batch(f"Entity function '{name}' does not exist.", len(operations), state)
        request = ent.build_batch_request(name, key, state, operations)
        try:
            response = await self.functions.runner.entity(function, entity_id, request)
            return ent.parse_batch_response(response, len(operations))
        except RunnerUnavailable:
            raise
        except Exception as exc:  # a broken entity function must not take the host down
            message = f"Entity function '{name}' failed: {type(exc).__name__}: {exc}"
            return ent.failed_batch(message, len(operations), state)

    # ================================================================ DurableService: instances
    async def start_orchestration(
        self,
        name: str,
        instance_id: str | None = None,
        input_json: str | None = None,
        *,
        exact_input: bool = False,
        start_at: datetime | None = None,
        version: str = "",
        tags: dict[str, str] | None = None,
    ) -> str:
        """Schedule a new instance and return its id (see DurableService).

        input_json is the request body as a client sends it and is stored as the instance's input; the
        orchestrator gets its inner JSON text when it is a JSON string (the SDK client's double
        encoding), else the text itself (durable-protocol.md 4.2). With exact_input (gRPC clients encode
        once) the orchestrator gets input_json as it is. start_at delays the first episode (scheduled start);
        version is ExecutionStarted's Version (the orchestration version gRPC clients may give); tags (gRPC
        clients' string map) are kept with the instance and in its ExecutionStarted.
        """
        if self.functions.orchestrator(name) is None:
            known = ", ".join(sorted(self.functions.orchestrators)) or "none"
            raise FunctionNotFoundError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Registered orchestrators: {known}."
            )
        instance_id = random_uuid().hex if instance_id is None else instance_id
        check_instance_id(instance_id)
        try:
            context_input = input_json if exact_input else client_context_input(input_json)
        except ValueError as exc:
            raise InvalidRequestError(f"the orchestration input is not valid JSON: {exc}") from exc
        execution_id = new_execution_id()
        now = self.clock.now()
        stored_tags = json.dumps(tags) if tags else None
        new = q.NewInstance(instance_id, execution_id, name, input_json, h.to_us(now), tags=stored_tags)
        start = start_message(instance_id, execution_id, name, context_input, now, version=version, tags=tags)
        delayed = start_at is not None and start_at > now
        if delayed:
            assert start_at is not None
            start = dataclasses.replace(start, visible_us=h.to_us(start_at))
        async with self._locks.hold(instance_id):
            await self._store.write(functools.partial(q.create_instance, new=new, start=start))
            self._cache.pop(instance_id, None)
        if delayed:
            self._add_wakeup(_ORCHESTRATION, instance_id, start.visible_us)
        else:
            self._orchestrations.mark(instance_id)
        self._notify(instance_id)
        return instance_id

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance's current record, or None."""
        cached = self._cache.get(instance_id)
        # While an episode commits, readers of the store (instance lists) may already see its outcome:
        # answer from the store too, or a list could say Completed while this still says Running.
        if cached is not None and instance_id not in self._committing:
            return cached.row.record
        # A primary-key lookup takes tens of microseconds: cheaper on the loop than a reader-pool round trip.
        row = self._store.read_sync(functools.partial(q.get_instance, instance_id=instance_id))
        return row.record if row else None

    async def get_history(self, instance_id: str) -> list[Event]:
        """The stored history of the instance's current execution (protocol events, PascalCase)."""
        events = await self._store.read(functools.partial(q.load_history, instance_id=instance_id))
        return [{**event, "IsPlayed": True} for event in events]

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """One page of instances matching the query."""
        return await self._store.read(functools.partial(q.query_instances, query=query))

    async def wait_for_instance(
        self, instance_id: str, timeout_s: float, statuses: frozenset[RuntimeStatus] | None = None
    ) -> InstanceRecord | None:
        """Wait (event-driven) until the instance reaches one of statuses (default: terminal) or timeout;
        returns its latest record (None if it does not exist)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            event = self._status_events.setdefault(instance_id, asyncio.Event())
            record = await self.get_instance(instance_id)
            if record is not None and (
                record.runtime_status in statuses if statuses else record.runtime_status.is_terminal
            ):
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return record
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return await self.get_instance(instance_id)

    async def _existing(self, instance_id: str) -> q.InstanceRow:
        row = await self._store.read(functools.partial(q.get_instance, instance_id=instance_id))
        if row is None:
            raise InstanceNotFoundError(f"no instance with id '{instance_id}'")
        return row

    async def raise_event(self, instance_id: str, event_name: str, event_data_json: str | None) -> None:
        """Deliver an external event (InstanceNotFoundError, or InstanceStateError when ended)."""
        if not event_name:
            raise InvalidRequestError("an event name is required")
        check_name(event_name, "event name")
        now = self.clock.now()
        event = h.event_raised(h.format_ts(now), event_name, event_data_json)
        message = q.NewMessage(instance_id, None, KIND_EVENT, event, h.to_us(now))
        status = await self._store.write(functools.partial(q.raise_event_message, message=message))
        if status is None:
            raise InstanceNotFoundError(f"no instance with id '{instance_id}'")
        if status not in q.ACTIVE_STATUSES:
            raise InstanceStateError(f"instance '{instance_id}' has ended ({status}); it takes no more events")
        self._orchestrations.mark(instance_id)

    async def terminate(self, instance_id: str, reason: str | None, *, output_json: str | None = None) -> None:
        """Terminate a pending, running or suspended instance; its output is the reason as a JSON string, or
        output_json as it is (gRPC clients send JSON)."""
        async with self._locks.hold(instance_id):
            row = await self._existing(instance_id)
            if row.record.runtime_status.is_terminal:
                raise InstanceStateError(
                    f"instance '{instance_id}' has already ended ({row.record.runtime_status.value})"
                )
            now = self.clock.now()
            stamp = h.format_ts(now)
            output = output_json if output_json is not None else json.dumps(reason) if reason is not None else None
            update, new_row = updated_row(
                row,
                now,
                runtime_status=RuntimeStatus.TERMINATED,
                output=output,
                completed_time=now,
                failure_message=None,
            )
            notice = f"Sub-orchestration '{instance_id}' was terminated: {reason or 'no reason given'}"
            commit = q.EpisodeCommit(
                instance_id,
                history_chunk=[
                    h.execution_terminated(stamp, output),
                    h.execution_completed(stamp, RuntimeStatus.TERMINATED.orchestration_status_code, output),
                ],
                drop_inbox=True,
                drop_work_items=True,
                messages=parent_notice(row, now, None, (notice, notice)),
                update=update,
            )
            await self._commit_management(new_row, commit)
        log.info("Orchestration '%s' (%s) terminated: %s", row.record.name, instance_id, reason)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        """Suspend a running instance: new events are held until resume."""
        async with self._locks.hold(instance_id):
            row = await self._existing(instance_id)
            status = row.record.runtime_status
            if status.is_terminal:
                raise InstanceStateError(f"instance '{instance_id}' has already ended ({status.value})")
            if status == RuntimeStatus.SUSPENDED:
                raise _invalid_operation("suspend", instance_id, status)
            now = self.clock.now()
            update, new_row = updated_row(row, now, runtime_status=RuntimeStatus.SUSPENDED)
            chunk = [h.execution_suspended(h.format_ts(now), reason)]
            await self._commit_management(new_row, q.EpisodeCommit(instance_id, history_chunk=chunk, update=update))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        """Resume a suspended instance."""
        async with self._locks.hold(instance_id):
            row = await self._existing(instance_id)
            status = row.record.runtime_status
            if status.is_terminal:
                raise InstanceStateError(f"instance '{instance_id}' has already ended ({status.value})")
            if status != RuntimeStatus.SUSPENDED:
                raise _invalid_operation("resume", instance_id, status)
            now = self.clock.now()
            update, new_row = updated_row(row, now, runtime_status=RuntimeStatus.RUNNING)
            chunk = [h.execution_resumed(h.format_ts(now), reason)]
            await self._commit_management(new_row, q.EpisodeCommit(instance_id, history_chunk=chunk, update=update))
        self._orchestrations.mark(instance_id)

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        """Retry a Failed instance from its failed tasks (InstanceStateError unless Failed)."""
        async with self._locks.hold(instance_id):
            row = await self._existing(instance_id)
            if row.record.runtime_status != RuntimeStatus.FAILED:
                raise InstanceStateError(
                    f"only Failed instances can be rewound; '{instance_id}' is {row.record.runtime_status.value}"
                )
            events = await self._store.read(functools.partial(q.load_history, instance_id=instance_id))
            now = self.clock.now()
            commit, new_row = plan_rewind(row, events, reason, now, lambda: next(self._work_ids), self.functions)
            await self._commit_management(new_row, commit)
        self._orchestrations.mark(instance_id)
        log.info("Orchestration '%s' (%s) rewound: %s", row.record.name, instance_id, reason)

    async def restart(self, instance_id: str, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with the same input; returns the id used."""
        row = await self._existing(instance_id)
        target = None if new_instance_id else instance_id
        return await self.start_orchestration(row.record.name, target, row.record.input)

    async def purge_instance(self, instance_id: str) -> int:
        """Delete an ended instance and its history; 0 when there is none (InstanceStateError if running)."""
        async with self._locks.hold(instance_id):
            row = await self._store.read(functools.partial(q.get_instance, instance_id=instance_id))
            if row is None:
                return 0
            if not row.record.runtime_status.is_terminal:
                raise InstanceStateError(
                    f"instance '{instance_id}' is {row.record.runtime_status.value}; terminate it before purging"
                )
            count = await self._store.write(functools.partial(q.purge_instance, instance_id=instance_id))
            self._cache.pop(instance_id, None)
            self._parked_instances.pop(instance_id, None)
        self._notify(instance_id)
        return count

    async def purge_instances(
        self,
        created_from: datetime,
        created_to: datetime | None = None,
        statuses: frozenset[RuntimeStatus] | None = None,
    ) -> int:
        """Delete every matching instance that has ended; returns how many."""
        ids = await self._store.write(
            functools.partial(q.purge_instances, created_from=created_from, created_to=created_to, statuses=statuses)
        )
        for instance_id in ids:
            self._cache.pop(instance_id, None)
            self._notify(instance_id)
        return len(ids)

    # ================================================================ DurableService: entities
    async def signal_entity(
        self,
        entity_name: str,
        key: str,
        operation: str,
        input_json: str | None,
        scheduled_time: datetime | None = None,
    ) -> None:
        """Queue a one-way operation. input_json is the operation input as the SDK client sends it (the
        JSON text of the JSON text of the value), or None; scheduled_time delays it (a scheduled signal)."""
        if self.functions.entity(entity_name) is None:
            known = ", ".join(sorted(self.functions.entities)) or "none"
            raise FunctionNotFoundError(f"no entity function named '{entity_name}'. Registered entities: {known}.")
        if not key:
            raise InvalidRequestError("an entity key is required")
        if not operation:
            raise InvalidRequestError("an entity operation is required")
        entity_id = ent.entity_id(entity_name, key)
        visible_us = h.to_us(scheduled_time) if scheduled_time is not None else None
        message = q.EntityMessage(entity_id, operation, input_json or "null", visible_us=visible_us)
        await self._store.write(functools.partial(q.insert_entity_messages, messages=[message]))
        self._entity_arrived(message)

    def _entity_arrived(self, message: q.EntityMessage) -> None:
        """A stored operation for an entity: its batch runs now, or when a scheduled operation becomes due."""
        if message.visible_us is not None and message.visible_us > h.to_us(self.clock.now()):
            self._add_wakeup(_ENTITY, message.entity_id, message.visible_us)
        else:
            self._entities.mark(message.entity_id)

    async def read_entity(self, entity_name: str, key: str) -> EntityRecord | None:
        """The entity's record, or None when it does not exist."""
        record = await self._store.read(functools.partial(q.get_entity, entity_id=ent.entity_id(entity_name, key)))
        return record if record is not None and record.state is not None else None

    async def list_entities(self, entity_name: str | None = None, page_size: int = 100) -> list[EntityRecord]:
        """Existing entities, optionally of one name."""
        return await self._store.read(functools.partial(q.list_entities, name=entity_name, limit=page_size))

    async def release_orphaned_locks(self) -> int:
        """Release entity locks whose orchestration no longer runs (CleanEntityStorage's releaseOrphanedLocks) and
        hand them to the requests that wait; returns how many entities were released."""
        released, granted = await self._store.write(q.release_orphaned_locks)
        for instance_id in granted:
            self._orchestrations.mark(instance_id)
        return len(released)
