"""Read input bindings and write output bindings for an invocation, dispatching on the binding type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.functions.blob import InputStream

from devhost.app.index import BindingInfo
from devhost.bindings import blob, queue_output, table
from devhost.bindings.expressions import resolve
from devhost.bindings.storage import StorageClients


class BindingRuntime:
    """Input and output bindings over shared storage clients."""

    def __init__(self, clients: StorageClients, queue_encoding: str = "base64") -> None:
        self.clients = clients
        self.queue_encoding = queue_encoding

    async def read(self, binding: BindingInfo, data: Mapping[str, Any], annotation: Any) -> Any:
        """The value of an input binding, converted to the parameter's annotation."""
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
            if text is not None and annotation is bytes:
                return text.encode("utf-8")
            return text
        if binding.type == "blob":
            found = await blob.read_blob(
                self.clients.blob_service(binding.connection_string), resolve(str(binding.get("path")), data, where)
            )
            if found is None:
                return None
            content, properties = found
            wanted = annotation if annotation is not None else _data_type(binding)
            if wanted is str:
                return content.decode("utf-8")
            if wanted is bytes:
                return content
            return InputStream(
                data=content,
                name=properties["Name"],
                uri=properties["Uri"],
                length=properties["ContentLength"],
                blob_properties=properties,
            )
        raise ValueError(f"{where}: {binding.type!r} is not an input binding")

    async def write(self, binding: BindingInfo, value: Any, data: Mapping[str, Any]) -> None:
        """Write an output binding's value (None writes nothing)."""
        if value is None:
            return
        assert binding.connection_string is not None
        where = f"binding {binding.name!r}"
        if binding.type == "queue":
            bodies = queue_output.message_bodies(value)
            client = self.clients.queue(binding.connection_string, resolve(str(binding.get("queueName")), data, where))
            await queue_output.send_messages(client, bodies, self.queue_encoding)
        elif binding.type == "table":
            entities = table.table_entities(
                value,
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
                blob.blob_bytes(value),
            )
        else:
            raise ValueError(f"{where}: {binding.type!r} is not an output binding the runtime writes")


def _optional(template: Any, data: Mapping[str, Any], where: str) -> str | None:
    if template is None or template == "":
        return None
    return resolve(str(template), data, where)


def _data_type(binding: BindingInfo) -> type | None:
    data_type = str(binding.get("dataType") or "").lower()
    return {"string": str, "binary": bytes}.get(data_type)
