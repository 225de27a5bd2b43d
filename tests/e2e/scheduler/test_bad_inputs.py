"""Bad input gets a gRPC status and a message saying what is wrong (never INTERNAL), and the endpoint keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from durabletask import client as dt_client
from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from google.protobuf import wrappers_pb2

from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_worker

HUB = (("taskhub", "default"),)


@orchestrator
def quick(ctx: task.OrchestrationContext, value: Any) -> Any:
    return value


@orchestrator
def waits(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("go"))


@pytest.fixture(scope="module")
def stub(scheduler: DevHost) -> Iterator[stubs.TaskHubSidecarServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
        yield stubs.TaskHubSidecarServiceStub(channel)


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=HUB, timeout=10)
    assert raised.value.code() != grpc.StatusCode.INTERNAL, raised.value.details()
    return raised.value


def test_starting_a_taken_id_is_already_exists_unless_the_reuse_policy_allows_it(scheduler: DevHost):
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, quick, waits):
        running = sdk.schedule_new_orchestration(waits, instance_id="taken-running")
        sdk.wait_for_orchestration_start(running, timeout=30)
        with pytest.raises(grpc.RpcError) as raised:
            sdk.schedule_new_orchestration(waits, instance_id="taken-running")
        assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "'taken-running' already exists (Running)" in raised.value.details()
        done = sdk.schedule_new_orchestration(quick, instance_id="taken-done", input=1)
        sdk.wait_for_orchestration_completion(done, timeout=30)
        with pytest.raises(grpc.RpcError) as again:
            sdk.schedule_new_orchestration(quick, instance_id="taken-done", input=2)
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
        policy = pb.OrchestrationIdReusePolicy(replaceableStatus=[pb.ORCHESTRATION_STATUS_COMPLETED])
        sdk.schedule_new_orchestration(quick, instance_id="taken-done", input=2, reuse_id_policy=policy)
        state = sdk.wait_for_orchestration_completion("taken-done", timeout=30)
        assert state is not None and state.serialized_output == "2"
        sdk.terminate_orchestration(running)


def test_bad_ids_and_names_are_invalid_arguments(stub: stubs.TaskHubSidecarServiceStub):
    long_id = refused(stub.StartInstance, pb.CreateInstanceRequest(name="quick", instanceId="x" * 300))
    assert long_id.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "instance id is 300 characters long; the maximum is 256" in long_id.details()
    no_name = refused(stub.StartInstance, pb.CreateInstanceRequest(name=""))
    assert no_name.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "orchestration name must be a non-empty string" in no_name.details()
    slash = refused(stub.StartInstance, pb.CreateInstanceRequest(name="quick", instanceId="a/b"))
    assert slash.code() == grpc.StatusCode.INVALID_ARGUMENT and "forbidden character '/'" in slash.details()
    no_event = refused(stub.RaiseEvent, pb.RaiseEventRequest(instanceId="a", name=""))
    assert no_event.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("RaiseEvent", pb.RaiseEventRequest(instanceId="ghost", name="go")),
        ("TerminateInstance", pb.TerminateRequest(instanceId="ghost")),
        ("SuspendInstance", pb.SuspendRequest(instanceId="ghost")),
        ("ResumeInstance", pb.ResumeRequest(instanceId="ghost")),
        ("RestartInstance", pb.RestartInstanceRequest(instanceId="ghost")),
        ("RewindInstance", pb.RewindInstanceRequest(instanceId="ghost")),
    ],
)
def test_an_unknown_instance_is_not_found(stub: stubs.TaskHubSidecarServiceStub, method: str, request_: Any):
    error = refused(getattr(stub, method), request_)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "'ghost'" in error.details()


def test_operations_the_state_forbids_are_failed_precondition(
    scheduler: DevHost, stub: stubs.TaskHubSidecarServiceStub
):
    sdk = client(scheduler.port)
    with running_worker(scheduler.port, quick, waits):
        running = sdk.schedule_new_orchestration(waits)
        sdk.wait_for_orchestration_start(running, timeout=30)
        restart = refused(stub.RestartInstance, pb.RestartInstanceRequest(instanceId=running))
        assert restart.code() == grpc.StatusCode.FAILED_PRECONDITION and "is Running" in restart.details()
        rewind = refused(stub.RewindInstance, pb.RewindInstanceRequest(instanceId=running))
        assert rewind.code() == grpc.StatusCode.FAILED_PRECONDITION and "only Failed instances" in rewind.details()
        sdk.terminate_orchestration(running)
        sdk.wait_for_orchestration_completion(running, timeout=30)
    ended = refused(stub.RaiseEvent, pb.RaiseEventRequest(instanceId=running, name="go"))
    assert ended.code() == grpc.StatusCode.FAILED_PRECONDITION and "has ended" in ended.details()
    resume = refused(stub.ResumeInstance, pb.ResumeRequest(instanceId=running))
    assert resume.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_completion_token_is_good_once(scheduler: DevHost, stub: stubs.TaskHubSidecarServiceStub):
    never = refused(stub.CompleteActivityTask, pb.ActivityResponse(instanceId="x", completionToken="made-up"))
    assert never.code() == grpc.StatusCode.NOT_FOUND and "never issued" in never.details()
    instance_id = client(scheduler.port).schedule_new_orchestration("raw_worker_orchestration")
    stream = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=HUB, timeout=30)
    item = next(i for i in stream if i.HasField("orchestratorRequest"))
    assert item.orchestratorRequest.instanceId == instance_id
    complete = pb.OrchestratorAction(
        id=1,
        completeOrchestration=pb.CompleteOrchestrationAction(
            orchestrationStatus=pb.ORCHESTRATION_STATUS_COMPLETED, result=wrappers_pb2.StringValue(value='"raw"')
        ),
    )
    answer = pb.OrchestratorResponse(instanceId=instance_id, completionToken=item.completionToken, actions=[complete])
    stub.CompleteOrchestratorTask(answer, metadata=HUB, timeout=10)
    twice = refused(stub.CompleteOrchestratorTask, answer)
    assert twice.code() == grpc.StatusCode.NOT_FOUND and "already completed or abandoned" in twice.details()
    stream.cancel()
    state = client(scheduler.port).wait_for_orchestration_completion(instance_id, timeout=30)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
    assert state.serialized_output == '"raw"'


def test_a_payload_over_the_limit_is_refused_naming_the_limit(
    scheduler: DevHost, stub: stubs.TaskHubSidecarServiceStub
):
    huge = wrappers_pb2.StringValue(value='"' + "x" * (5 * 1024 * 1024) + '"')
    error = refused(stub.StartInstance, pb.CreateInstanceRequest(name="quick", input=huge))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "4194304" in error.details()
    assert client(scheduler.port).get_orchestration_state("still-serving") is None


def test_task_hub_creation_is_a_no_op_and_deletion_is_refused_saying_how(stub: stubs.TaskHubSidecarServiceStub):
    stub.CreateTaskHub(pb.CreateTaskHubRequest(), metadata=HUB, timeout=10)
    error = refused(stub.DeleteTaskHub, pb.DeleteTaskHubRequest())
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED and "delete the hub's folder" in error.details()
