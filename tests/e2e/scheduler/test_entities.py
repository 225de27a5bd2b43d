"""Entities over gRPC: SignalEntity, the worker's entity batches (CompleteEntityTask), GetEntity, QueryEntities
and CleanEntityStorage, with the real durabletask client and worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from durabletask import task
from durabletask.client import EntityQuery
from durabletask.entities import EntityInstanceId
from durabletask.entities.entity_context import EntityContext
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_worker, worker
from tests.support.waiting import wait_until


def counter(ctx: EntityContext, value: Any) -> Any:
    if ctx.operation == "add":
        ctx.set_state(ctx.get_state(int, 0) + value)
    elif ctx.operation == "fail":
        raise ValueError("counters do not fail on purpose twice")
    return ctx.get_state(int, 0)


@pytest.fixture(scope="module")
def entity_worker(scheduler: DevHost) -> Iterator[None]:
    instance = worker(scheduler.port)
    instance.add_entity(counter)
    instance.use_work_item_filters()  # entities only: orchestrations here go to their own worker
    instance.start()
    try:
        yield
    finally:
        instance.stop()


def _state(port: int, entity: EntityInstanceId) -> int | None:
    metadata = client(port).get_entity(entity)
    return metadata.get_state(int) if metadata is not None else None


def test_signals_run_in_the_worker_and_the_state_is_read_back(scheduler: DevHost, entity_worker: None):
    sdk = client(scheduler.port)
    entity = EntityInstanceId("counter", "first")
    for amount in (5, 10, 27):
        sdk.signal_entity(entity, "add", input=amount)
    assert wait_until(lambda: _state(scheduler.port, entity) == 42, 30, "the counter to reach 42")
    metadata = sdk.get_entity(entity, include_state=False)
    assert metadata is not None and metadata.id == entity
    assert sdk.get_entity(EntityInstanceId("counter", "never-signalled")) is None


def test_a_failing_operation_keeps_the_state(scheduler: DevHost, entity_worker: None):
    sdk = client(scheduler.port)
    entity = EntityInstanceId("counter", "sturdy")
    sdk.signal_entity(entity, "add", input=1)
    sdk.signal_entity(entity, "fail")
    sdk.signal_entity(entity, "add", input=2)
    assert wait_until(lambda: _state(scheduler.port, entity) == 3, 30, "the counter to reach 3")


def test_query_entities_pages_and_filters_by_prefix(scheduler: DevHost, entity_worker: None):
    sdk = client(scheduler.port)
    for index in range(5):
        sdk.signal_entity(EntityInstanceId("counter", f"paged-{index}"), "add", input=index)
    wait_until(lambda: _state(scheduler.port, EntityInstanceId("counter", "paged-4")) == 4, 30, "the last counter")
    found = sdk.get_all_entities(
        EntityQuery(instance_id_starts_with="@counter@paged-", include_state=True, page_size=2)
    )
    assert sorted(str(e.id) for e in found) == [f"@counter@paged-{i}" for i in range(5)]
    assert sum(e.get_state(int) or 0 for e in found) == 10
    cleaned = sdk.clean_entity_storage()
    assert cleaned.empty_entities_removed == 0 and cleaned.orphaned_locks_released == 0


def test_a_bad_entity_id_is_an_invalid_argument(scheduler: DevHost):
    with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.SignalEntity(pb.SignalEntityRequest(instanceId="no-at-signs", name="add"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'@name@key'" in raised.value.details()


@orchestrator
def uses_counter(ctx: task.OrchestrationContext, key: str) -> Any:
    entity = EntityInstanceId("counter", key)
    ctx.signal_entity(entity, "add", input=2)
    total = yield ctx.call_entity(entity, "add", input=40)
    try:
        yield ctx.call_entity(entity, "fail")
    except Exception as failure:  # an entity operation's failure reaches the caller
        return {"total": total, "failure": str(failure)}
    return {"total": total, "failure": None}


def test_orchestrations_signal_and_call_entities(scheduler: DevHost, entity_worker: None):
    with running_worker(scheduler.port, uses_counter, filters=True):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(uses_counter, input="from-orchestration")
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    result = json.loads(state.serialized_output or "")
    assert result["total"] == 42
    assert "counters do not fail on purpose twice" in result["failure"]
