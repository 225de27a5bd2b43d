"""Table input (one entity, or a query with take/filter) and output (dict, list of dicts or JSON text)."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from devhost.errors import DevHostError


class TableBindingError(DevHostError):
    """A table binding value or setting cannot be used."""


def entity_to_json_value(entity: Any) -> dict[str, Any]:
    """An entity as the JSON the Functions host gives Python: PartitionKey, RowKey, Timestamp, properties."""
    result: dict[str, Any] = {}
    metadata = getattr(entity, "metadata", {}) or {}
    for key, value in entity.items():
        result[key] = _jsonable(value)
    timestamp = metadata.get("timestamp")
    if timestamp is not None:
        result["Timestamp"] = _jsonable(timestamp)
    return result


def _jsonable(value: Any) -> Any:
    value = getattr(value, "value", value)  # EntityProperty wraps typed values
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def read_table(
    service: TableServiceClient,
    table_name: str,
    partition_key: str | None,
    row_key: str | None,
    take: int | None,
    query_filter: str | None,
) -> str | None:
    """JSON text of one entity (None when missing), or of a list of entities for a query."""
    client = service.get_table_client(table_name)
    if partition_key is not None and row_key is not None:
        try:
            entity = await client.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None
        return json.dumps(entity_to_json_value(entity))
    filters = []
    if partition_key is not None:
        escaped = partition_key.replace("'", "''")
        filters.append(f"PartitionKey eq '{escaped}'")
    if query_filter:
        filters.append(f"({query_filter})")
    results: list[dict[str, Any]] = []
    try:
        if filters:
            pages = client.query_entities(" and ".join(filters), results_per_page=take)
        else:
            pages = client.list_entities(results_per_page=take)
        async for entity in pages:
            results.append(entity_to_json_value(entity))
            if take is not None and len(results) >= take:
                break
    except ResourceNotFoundError:
        return "[]"
    return json.dumps(results)


def table_entities(value: Any, partition_key: str | None, row_key: str | None) -> list[dict[str, Any]]:
    """Entities for an output value; binding-level keys fill in missing PartitionKey/RowKey."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise TableBindingError(f"table output is not valid JSON: {exc}") from None
    items = value if isinstance(value, list) else [value]
    entities = []
    for item in items:
        if not isinstance(item, dict):
            raise TableBindingError(f"table output entities must be JSON objects (dicts), got {type(item).__name__}")
        entity = dict(item)
        if partition_key is not None:
            entity.setdefault("PartitionKey", partition_key)
        if row_key is not None:
            entity.setdefault("RowKey", row_key)
        for key in ("PartitionKey", "RowKey"):
            if not isinstance(entity.get(key), str):
                raise TableBindingError(f"table output entity needs a string {key} (in the entity or the binding)")
        # Read-only system properties a round-tripped entity may carry.
        for key in ("Timestamp", "odata.etag", "etag"):
            entity.pop(key, None)
        entities.append(entity)
    return entities


async def write_table(service: TableServiceClient, table_name: str, entities: list[dict[str, Any]]) -> None:
    """Upsert the entities, creating the table when it does not exist yet."""
    client = service.get_table_client(table_name)
    for entity in entities:
        try:
            await client.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                await service.create_table(table_name)
            await client.upsert_entity(entity, mode=UpdateMode.REPLACE)
