"""Tags: the string map StartInstance carries stays with the instance (persisted) and is in its ExecutionStarted,
as durabletask's reference backend keeps it; GetInstance and QueryInstances return it too."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from durabletask import history, task
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from tests.support.scheduler import client, endpoint, orchestrator, running_scheduler, running_worker

TAGS = {"team": "cities", "run": "42"}


@orchestrator
def tagged(ctx: task.OrchestrationContext, _: Any) -> str:
    return "done"


def _states(port: int) -> tuple[dict[str, pb.OrchestrationState], dict[str, pb.OrchestrationState]]:
    """GetInstance's and QueryInstances' states by instance id, through the raw gRPC stub (the Python client's
    OrchestrationState has no tags field)."""
    with grpc.insecure_channel(endpoint(port).removeprefix("http://")) as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        metadata = [("taskhub", "default")]
        page = stub.QueryInstances(
            pb.QueryInstancesRequest(query=pb.InstanceQuery(maxInstanceCount=100)), metadata=metadata
        )
        queried = {state.instanceId: state for state in page.orchestrationState}
        got = {
            instance_id: stub.GetInstance(
                pb.GetInstanceRequest(instanceId=instance_id), metadata=metadata
            ).orchestrationState
            for instance_id in queried
        }
    return got, queried


def test_tags_are_kept_with_the_instance_and_in_its_history(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler:
        sdk = client(scheduler.port)
        with running_worker(scheduler.port, tagged):
            instance_id = sdk.schedule_new_orchestration(tagged, tags=TAGS)
            plain_id = sdk.schedule_new_orchestration(tagged)
            for started in (instance_id, plain_id):
                state = sdk.wait_for_orchestration_completion(started, timeout=30)
                assert state is not None and state.serialized_output == '"done"'
            restarted_id = sdk.restart_orchestration(instance_id, restart_with_new_instance_id=True)
            sdk.wait_for_orchestration_completion(restarted_id, timeout=30)
        started_events = [
            e for e in sdk.get_orchestration_history(instance_id) if isinstance(e, history.ExecutionStartedEvent)
        ]
        assert [e.tags for e in started_events] == [TAGS]
        plain_started = [
            e for e in sdk.get_orchestration_history(plain_id) if isinstance(e, history.ExecutionStartedEvent)
        ]
        assert [e.tags for e in plain_started] == [None]
        got, queried = _states(scheduler.port)
        assert dict(got[instance_id].tags) == dict(queried[instance_id].tags) == TAGS
        # No tags, and a restart starts without them (the reference's RestartInstance creates the instance anew).
        assert not got[plain_id].tags and not queried[plain_id].tags
        assert not got[restarted_id].tags
        # The dashboard's detail shows them.
        url = f"http://127.0.0.1:{scheduler.dashboard_port}/api/instances/{instance_id}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.loads(response.read())["tags"] == TAGS

    # Persisted: a new process over the same data directory still has them.
    with running_scheduler(tmp_path) as scheduler:
        got, queried = _states(scheduler.port)
        assert dict(got[instance_id].tags) == dict(queried[instance_id].tags) == TAGS
