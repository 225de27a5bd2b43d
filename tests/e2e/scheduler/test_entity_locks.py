"""Entity critical sections (durabletask's ``ctx.lock_entities``) through the scheduler endpoint, with the real
durabletask-azuremanaged client and worker: a lock set is granted whole, a request that overlaps a held lock
waits for its release (first come, first served), a lock dies with the orchestration that holds it, and held
locks and waiting requests survive a kill -9 of devhost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durabletask import client as dt_client
from durabletask import history, task
from durabletask.entities import EntityInstanceId
from durabletask.entities.entity_context import EntityContext

from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_scheduler, start_scheduler, worker
from tests.support.waiting import wait_until

#: The grant of a lock request reaches the orchestration as an EventRaised named by the critical section.
EVENT_SENT, EVENT_RAISED = history.EventSentEvent, history.EventRaisedEvent


def ledger(ctx: EntityContext, value: Any) -> Any:
    """An entity that keeps the values appended to it, in arrival order."""
    entries: list[str] = ctx.get_state(list, []) or []
    if ctx.operation == "append":
        entries = [*entries, value]
        ctx.set_state(entries)
    return entries


def _entities(keys: list[str]) -> list[EntityInstanceId]:
    return [EntityInstanceId("ledger", key) for key in keys]


@orchestrator
def transfer(ctx: task.OrchestrationContext, keys: list[str]) -> Any:
    """Lock every ledger at once, append to each inside the critical section, and release."""
    seen = []
    with (yield ctx.lock_entities(_entities(keys))):
        for entity in _entities(keys):
            seen.append((yield ctx.call_entity(entity, "append", ctx.instance_id)))
    return seen


@orchestrator
def hold_until_go(ctx: task.OrchestrationContext, keys: list[str]) -> Any:
    """Lock the ledgers, say so in the custom status, and append to them only after the event 'go'."""
    with (yield ctx.lock_entities(_entities(keys))):
        ctx.set_custom_status("locked")
        yield ctx.wait_for_external_event("go")
        for entity in _entities(keys):
            yield ctx.call_entity(entity, "append", ctx.instance_id)
    return "released"


@contextmanager
def _locking_worker(port: int) -> Iterator[None]:
    instance = worker(port)
    instance.add_entity(ledger)
    instance.add_orchestrator(transfer)
    instance.add_orchestrator(hold_until_go)
    instance.start()
    try:
        yield
    finally:
        instance.stop()


def _ledger(port: int, key: str) -> list[str] | None:
    metadata = client(port).get_entity(EntityInstanceId("ledger", key))
    if metadata is None:
        return None
    entries: list[str] = json.loads(metadata.get_state())  # the raw serialized state
    return entries


def _events(sdk: dt_client.TaskHubGrpcClient, instance_id: str, kind: type[history.HistoryEvent]) -> list[Any]:
    return [event for event in sdk.get_orchestration_history(instance_id) if isinstance(event, kind)]


def _lock_requested(sdk: dt_client.TaskHubGrpcClient, instance_id: str) -> bool:
    return any(event.name == "op" for event in _events(sdk, instance_id, EVENT_SENT))


def _is_locked(sdk: dt_client.TaskHubGrpcClient, instance_id: str) -> bool:
    state = sdk.get_orchestration_state(instance_id)
    return state is not None and state.serialized_custom_status == '"locked"'


def _completed(sdk: dt_client.TaskHubGrpcClient, instance_id: str) -> dt_client.OrchestrationState:
    state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
    return state


def test_an_orchestration_locks_two_entities_calls_them_and_unlocks(scheduler: DevHost):
    sdk = client(scheduler.port)
    with _locking_worker(scheduler.port):
        first = sdk.schedule_new_orchestration(transfer, input=["t1-b", "t1-a"], instance_id="transfer-1")
        state = _completed(sdk, first)
        # Released at the end of the critical section: the same set locks again at once.
        second = sdk.schedule_new_orchestration(transfer, input=["t1-a", "t1-b"], instance_id="transfer-2")
        _completed(sdk, second)
    assert state.serialized_output == '[["transfer-1"], ["transfer-1"]]'
    assert _ledger(scheduler.port, "t1-a") == ["transfer-1", "transfer-2"]
    assert _ledger(scheduler.port, "t1-b") == ["transfer-1", "transfer-2"]
    sent = _events(sdk, first, EVENT_SENT)
    # One lock request (to the first entity of the sorted set), two calls, one release per entity.
    assert [event.name for event in sent] == ["op", "append", "append", "release", "release"]
    assert sent[0].instance_id == "@ledger@t1-a"
    assert {event.instance_id for event in sent[3:]} == {"@ledger@t1-a", "@ledger@t1-b"}
    # The grant is the first event raised, named by the critical section the request opened.
    assert _events(sdk, first, EVENT_RAISED)[0].name == json.loads(sent[0].input or "{}")["id"]


def test_an_overlapping_lock_request_waits_until_the_first_releases(scheduler: DevHost):
    sdk = client(scheduler.port)
    with _locking_worker(scheduler.port):
        holder = sdk.schedule_new_orchestration(hold_until_go, input=["o-a", "o-b"], instance_id="holder-1")
        wait_until(lambda: _is_locked(sdk, holder), 30, "the holder to get its locks")
        waiter = sdk.schedule_new_orchestration(transfer, input=["o-b", "o-c"], instance_id="waiter-1")
        wait_until(lambda: _lock_requested(sdk, waiter), 30, "the waiter's lock request")
        # A request that does not overlap is granted while the holder holds its set.
        _completed(sdk, sdk.schedule_new_orchestration(transfer, input=["o-c"], instance_id="bystander-1"))
        assert sdk.get_orchestration_state(waiter).runtime_status == dt_client.OrchestrationStatus.RUNNING  # type: ignore[union-attr]
        sdk.raise_orchestration_event(holder, "go")
        _completed(sdk, holder)
        _completed(sdk, waiter)
    # The waiter wrote to o-b only after the holder did, and was granted only once the holder released.
    assert _ledger(scheduler.port, "o-b") == ["holder-1", "waiter-1"]
    assert _ledger(scheduler.port, "o-c") == ["bystander-1", "waiter-1"]
    released = max(e.timestamp for e in _events(sdk, holder, EVENT_SENT) if e.name == "release")
    granted = _events(sdk, waiter, EVENT_RAISED)[0].timestamp
    assert granted >= released


def test_a_terminated_holder_releases_its_locks(scheduler: DevHost):
    sdk = client(scheduler.port)
    with _locking_worker(scheduler.port):
        holder = sdk.schedule_new_orchestration(hold_until_go, input=["x-a"], instance_id="doomed-holder")
        wait_until(lambda: _is_locked(sdk, holder), 30, "the holder to get its lock")
        waiter = sdk.schedule_new_orchestration(transfer, input=["x-a"], instance_id="after-doomed")
        wait_until(lambda: _lock_requested(sdk, waiter), 30, "the waiter's lock request")
        sdk.terminate_orchestration(holder, output="stopped")
        _completed(sdk, waiter)
    assert _ledger(scheduler.port, "x-a") == ["after-doomed"]


def test_held_locks_and_waiting_requests_survive_kill_9(tmp_path: Path):
    first = start_scheduler(tmp_path)
    port = first.port
    sdk = client(port)
    try:
        with _locking_worker(port):
            holder = sdk.schedule_new_orchestration(hold_until_go, input=["k-a"], instance_id="k-holder")
            wait_until(lambda: _is_locked(sdk, holder), 30, "the holder to get its lock")
            waiter = sdk.schedule_new_orchestration(transfer, input=["k-a"], instance_id="k-waiter")
            wait_until(lambda: _lock_requested(sdk, waiter), 30, "the waiter's lock request")
            first.kill()
            with running_scheduler(tmp_path, port=port):
                wait_until(lambda: sdk.get_orchestration_state(holder) is not None, 60, "the client to reconnect")
                # The lock is still held: a newcomer queues behind the waiter.
                late = sdk.schedule_new_orchestration(transfer, input=["k-a"], instance_id="k-late")
                wait_until(lambda: _lock_requested(sdk, late), 30, "the late lock request")
                assert _ledger(port, "k-a") is None
                sdk.raise_orchestration_event(holder, "go")
                for instance_id in (holder, waiter, late):
                    _completed(sdk, instance_id)
                entries = _ledger(port, "k-a")
    finally:
        first.kill()
    assert entries == ["k-holder", "k-waiter", "k-late"]
