"""What an entity's batch sends on (EntityBatchResult.actions), run as durabletask's reference backend runs it:
signals to other entities and orchestrations it starts, committed with the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from durabletask import task
from durabletask.entities import EntityInstanceId
from durabletask.entities.entity_context import EntityContext

from tests.support.scheduler import client, orchestrator, running_scheduler, worker
from tests.support.waiting import wait_until

TARGET = EntityInstanceId("tally", "target")


def tally(ctx: EntityContext, value: Any) -> Any:
    if ctx.operation == "add":
        ctx.set_state(ctx.get_state(int, 0) + value)
    return ctx.get_state(int, 0)


def relay(ctx: EntityContext, value: Any) -> Any:
    if ctx.operation == "forward":
        # Twice in one operation: both signals arrive, in order, once each.
        ctx.signal_entity(TARGET, "add", input=value)
        ctx.signal_entity(TARGET, "add", input=value * 10)
    elif ctx.operation == "kickoff":
        ctx.schedule_new_orchestration("started_by_entity", input={"from": ctx.entity_id.key}, instance_id=value)
    ctx.set_state((ctx.get_state(int, 0) or 0) + 1)
    return None


@orchestrator
def started_by_entity(ctx: task.OrchestrationContext, value: Any) -> Any:
    return {"got": value}


def _tally(port: int) -> int | None:
    metadata = client(port).get_entity(TARGET)
    return metadata.get_state(int) if metadata is not None else None


def test_an_entity_signals_entities_and_starts_orchestrations(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        instance = worker(scheduler.port)
        instance.add_entity(tally)
        instance.add_entity(relay)
        instance.add_orchestrator(started_by_entity)
        instance.start()
        try:
            sdk = client(scheduler.port)
            sdk.signal_entity(EntityInstanceId("relay", "r1"), "forward", input=4)
            assert wait_until(lambda: _tally(scheduler.port) == 44, 30, "the tally to get both signals")
            sdk.signal_entity(EntityInstanceId("relay", "r1"), "kickoff", input="from-entity-1")
            wait_until(lambda: sdk.get_orchestration_state("from-entity-1") is not None, 30, "the started instance")
            state = sdk.wait_for_orchestration_completion("from-entity-1", timeout=30)
        finally:
            instance.stop()
        assert state is not None and state.serialized_output == '{"got": {"from": "r1"}}'
        relay_state = client(scheduler.port).get_entity(EntityInstanceId("relay", "r1"))
        assert relay_state is not None and relay_state.get_state(int) == 2
        assert _tally(scheduler.port) == 44  # nothing delivered twice


#: How far ahead the scheduled signals below are due: long enough to see that they wait.
DELAY = timedelta(seconds=3)


def reminder(ctx: EntityContext, value: Any) -> Any:
    if ctx.operation == "remind":
        # The entity wakes itself up later (durabletask's EntityContext.signal_entity with signal_time).
        ctx.signal_entity(ctx.entity_id, "ring", input=value, signal_time=datetime.now(UTC) + DELAY)
    elif ctx.operation == "ring":
        ctx.set_state(value)
    return None


@orchestrator
def signals_later(ctx: task.OrchestrationContext, amount: int) -> Any:
    ctx.signal_entity(TARGET, "add", input=amount, signal_time=ctx.current_utc_datetime + DELAY)
    return "sent"


def test_scheduled_signals_wait_until_their_time_and_survive_a_restart(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        instance = worker(scheduler.port)
        for entity in (tally, reminder):
            instance.add_entity(entity)
        instance.add_orchestrator(signals_later)
        instance.start()
        try:
            sdk = client(scheduler.port)
            # From a client, from an orchestration, and from an entity to itself.
            due = datetime.now(UTC) + DELAY
            sdk.signal_entity(TARGET, "add", input=1, signal_time=due)
            orchestration = sdk.schedule_new_orchestration(signals_later, input=10)
            sdk.signal_entity(EntityInstanceId("reminder", "r"), "remind", input="wake up")
            state = sdk.wait_for_orchestration_completion(orchestration, timeout=30)
            assert state is not None and state.serialized_output == '"sent"'
            assert _tally(scheduler.port) is None, "a scheduled signal ran before its time"
            wait_until(lambda: _tally(scheduler.port) == 11, 30, "both scheduled signals to the tally")
            assert datetime.now(UTC) >= due
            rang = wait_until(lambda: client(scheduler.port).get_entity(EntityInstanceId("reminder", "r")), 30, "ring")
            assert rang is not None and rang.get_typed_state(str) == "wake up"
            # One more, due after a restart of the scheduler: it is stored, and its time is kept.
            later = datetime.now(UTC) + 2 * DELAY
            sdk.signal_entity(TARGET, "add", input=100, signal_time=later)
        finally:
            instance.stop()
        port = scheduler.port
    with running_scheduler(tmp_path, port=port) as scheduler:
        instance = worker(scheduler.port)
        instance.add_entity(tally)
        instance.start()
        try:
            assert _tally(port) == 11
            wait_until(lambda: _tally(port) == 111, 30, "the scheduled signal stored before the restart")
            assert datetime.now(UTC) >= later
        finally:
            instance.stop()
