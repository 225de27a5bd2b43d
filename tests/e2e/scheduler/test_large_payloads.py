"""Large payloads: the SDK externalises them to blob storage (devhost's Azurite here) and passes tokens, which
the endpoint stores and hands back like any other payload; it ignores the capability as the reference does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from durabletask import client as dt_client
from durabletask import task
from durabletask.extensions.azure_blob_payloads import BlobPayloadStore, BlobPayloadStoreOptions

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost
from tests.support.scheduler import client, orchestrator, running_worker

pytestmark = pytest.mark.azurite


def measure(ctx: task.ActivityContext, text: str) -> dict[str, Any]:
    return {"length": len(text), "echo": text}


@orchestrator
def big(ctx: task.OrchestrationContext, text: str) -> Any:
    return (yield ctx.call_activity(measure, input=text))


def test_payloads_over_the_threshold_travel_through_blob_storage(scheduler: DevHost, azurite: Azurite):
    store = BlobPayloadStore(BlobPayloadStoreOptions(connection_string=azurite.connection_string, threshold_bytes=1024))
    text = "Tokyo " * 20_000  # 120 KB: far over the threshold
    with running_worker(scheduler.port, big, measure, payload_store=store):
        sdk = client(scheduler.port, payload_store=store)
        instance_id = sdk.schedule_new_orchestration(big, input=text)
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
    output = json.loads(state.serialized_output or "")
    assert output == {"length": len(text), "echo": text}
    # What the endpoint stored is the token, not the payload.
    raw = client(scheduler.port).get_orchestration_state(instance_id)
    assert raw is not None and (raw.serialized_input or "").startswith("blob:v1:")
