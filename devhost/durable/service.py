"""The durable engine's public surface: what triggers, the management API and the dashboard call."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from devhost.durable.history import Event
from devhost.durable.models import EntityRecord, InstancePage, InstanceQuery, InstanceRecord, RuntimeStatus


class DurableService(Protocol):
    """Operations on the task hub. All raise subclasses of devhost.errors.DurableError on refusal.

    JSON arguments and results are JSON *text* (str), exactly as the SDK and the HTTP API carry them.
    """

    task_hub: str

    async def start_orchestration(
        self, name: str, instance_id: str | None = None, input_json: str | None = None
    ) -> str:
        """Schedule a new instance and return its id.

        Raises FunctionNotFoundError for an unknown orchestrator, InvalidRequestError for an invalid
        id, InstanceExistsError when an instance with that id is Pending, Running or Suspended.
        An id whose instance has ended is replaced by the new run (the extension's default).
        """
        ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance's current record, or None."""
        ...

    async def get_history(self, instance_id: str) -> list[Event]:
        """The stored history of the instance's current execution, as protocol events (PascalCase)."""
        ...

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """One page of instances matching the query, ordered by creation time then id."""
        ...

    async def raise_event(self, instance_id: str, event_name: str, event_data_json: str | None) -> None:
        """Deliver an external event. InstanceNotFoundError, or InstanceStateError when ended."""
        ...

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        """Terminate a pending, running or suspended instance (InstanceStateError when ended)."""
        ...

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        """Suspend a running instance: new events are held until resume (InvalidOperationError if Suspended)."""
        ...

    async def resume(self, instance_id: str, reason: str | None) -> None:
        """Resume a suspended instance (InvalidOperationError if it is not Suspended)."""
        ...

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        """Retry a Failed instance from its failed tasks (InstanceStateError unless Failed)."""
        ...

    async def restart(self, instance_id: str, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with the same input; returns the id used."""
        ...

    async def purge_instance(self, instance_id: str) -> int:
        """Delete an instance and its history; returns how many were deleted (0 or 1)."""
        ...

    async def purge_instances(
        self,
        created_from: datetime,
        created_to: datetime | None = None,
        statuses: frozenset[RuntimeStatus] | None = None,
    ) -> int:
        """Delete every matching instance that has ended; returns how many."""
        ...

    async def signal_entity(self, entity_name: str, key: str, operation: str, input_json: str | None) -> None:
        """Queue a one-way operation for an entity."""
        ...

    async def read_entity(self, entity_name: str, key: str) -> EntityRecord | None:
        """The entity's record, or None when it does not exist."""
        ...

    async def list_entities(self, entity_name: str | None = None, page_size: int = 100) -> list[EntityRecord]:
        """Existing entities, optionally of one name."""
        ...

    async def wait_for_instance(
        self, instance_id: str, timeout_s: float, statuses: frozenset[RuntimeStatus] | None = None
    ) -> InstanceRecord | None:
        """Wait until the instance reaches one of statuses (default: any terminal one) or timeout."""
        ...
