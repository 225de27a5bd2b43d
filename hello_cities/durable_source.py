"""Adapter from the Durable client's instance listing to the collector's InstanceLister."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from hello_cities.collector import SCANNED_STATUSES, CollectorError, InstanceLister, InstanceSnapshot, as_utc


def snapshot_of(status: DurableOrchestrationStatus) -> InstanceSnapshot:
    """The collector's view of one status object; raises CollectorError if required fields are missing."""
    if not status.instance_id or status.created_time is None or status.runtime_status is None:
        raise CollectorError(f"the host listed an instance without id, createdTime or runtimeStatus: {status!r}")
    last_updated = status.last_updated_time or status.created_time
    return InstanceSnapshot(
        instance_id=status.instance_id,
        name=status.name,
        runtime_status=status.runtime_status.value,
        created_time=as_utc(status.created_time),
        last_updated_time=as_utc(last_updated),
        output=status.output,
    )


def durable_lister(client: df.DurableOrchestrationClient) -> InstanceLister:
    """List instances created in a window through the public client (one page per call)."""
    statuses = [df.OrchestrationRuntimeStatus(name) for name in SCANNED_STATUSES]

    async def list_window(created_from: datetime, created_to: datetime) -> Sequence[InstanceSnapshot]:
        found = await client.get_status_by(
            created_time_from=as_utc(created_from), created_time_to=as_utc(created_to), runtime_status=statuses
        )
        return [snapshot_of(status) for status in found]

    return list_window
