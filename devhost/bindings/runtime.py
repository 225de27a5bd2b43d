"""Read input bindings and write output bindings for an invocation, dispatching on the binding type.

Values travel in the worker's wire shapes (devhost/worker/conversions.py): the host does the storage
I/O, the worker converts to and from the types user code sees.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from devhost.app.index import BindingInfo
from devhost.bindings import blob, queue_output, table
from devhost.bindings.expressions import resolve
from devhost.bindings.storage import StorageClients


class BindingRuntime:
    """Input and output bindings over shared storage clients."""

    def __init__(self, clients: StorageClients, queue_encoding: str = "base64") -> None:
        self.clients = clients
        self.queue_encoding = queue_encoding

    async def read(self, binding: BindingInfo, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """An input binding's value: {"text": table JSON} or a blob's {"data", "name", "uri", "length"}."""
        assert binding.connection_string is not None
        where = f"binding {binding.name!r}"
        if binding.type == "table":
            text = await table.read_table(
                self.clients.table_service(binding.connection_string),
                resolve(str(binding.get("tableName")), data, where),
                _optional(binding.get("partitionKey"), data, where),
                _optional(binding.get("rowKey"), data, where),
                binding.get("take"),
                _optional(binding.get("filter"), data, where),
            )
            return {"text": text}
        if binding.type == "blob":
            found = await blob.read_blob(
                self.clients.blob_service(binding.connection_string), resolve(str(binding.get("path")), data, where)
            )
            if found is None:
                return None
            content, properties = found
            return {
                "data": base64.b64encode(content).decode("ascii"),
                "name": properties["Name"],
                "uri": properties["Uri"],
                "length": properties["ContentLength"],
            }
        raise ValueError(f"{where}: {binding.type!r} is not an input binding")

    async def write(self, binding: BindingInfo, value: Mapping[str, Any] | None, data: Mapping[str, Any]) -> None:
        """Write an output binding's value as the worker encoded it (None writes nothing)."""
        if value is None:
            return
        assert binding.connection_string is not None
        where = f"binding {binding.name!r}"
        if binding.type == "queue":
            bodies = [item["text"] if "text" in item else base64.b64decode(item["data"]) for item in value["messages"]]
            client = self.clients.queue(binding.connection_string, resolve(str(binding.get("queueName")), data, where))
            await queue_output.send_messages(client, bodies, self.queue_encoding)
        elif binding.type == "table":
            entities = table.table_entities(
                value["text"],
                _optional(binding.get("partitionKey"), data, where),
                _optional(binding.get("rowKey"), data, where),
            )
            await table.write_table(
                self.clients.table_service(binding.connection_string),
                resolve(str(binding.get("tableName")), data, where),
                entities,
            )
        elif binding.type == "blob":
            await blob.write_blob(
                self.clients.blob_service(binding.connection_string),
                resolve(str(binding.get("path")), data, where),
                base64.b64decode(value["data"]),
            )
        else:
            raise ValueError(f"{where}: {binding.type!r} is not an output binding the runtime writes")


def _optional(template: Any, data: Mapping[str, Any], where: str) -> str | None:
    if template is None or template == "":
        return None
    return resolve(str(template), data, where)
