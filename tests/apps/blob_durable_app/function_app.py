"""Test app: "a file lands, an orchestration processes it": a blob-triggered durable starter whose
orchestration reads the blob's bytes in an activity."""

import hashlib
import logging
import os
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.storage.blob import BlobServiceClient

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def instance_id_for(path: str, etag: str) -> str:
    """One orchestration per blob version, so a start repeated after a crash starts nothing new."""
    return "blob-" + hashlib.sha256(f"{path}|{etag}".encode()).hexdigest()[:32]


def _note(line: str) -> None:
    """One line per invocation in BLOB_SEEN (the crash drill counts invocations from it)."""
    with open(os.environ["BLOB_SEEN"], "a", encoding="utf-8") as seen:
        seen.write(line + "\n")


@app.blob_trigger(arg_name="blob", path="%BLOB_INPUT%/{name}", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def start_on_upload(blob: func.InputStream, client: df.DurableOrchestrationClient) -> None:
    etag = (getattr(blob, "blob_properties", None) or {}).get("ETag", "")
    instance_id = instance_id_for(str(blob.name), etag)
    _note(f"{blob.name}\t{etag}")
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status is not None:
        logging.info("Instance %s already exists for %s; not starting another.", instance_id, blob.name)
        return
    await client.start_new("process_blob", instance_id, {"path": blob.name, "etag": etag})


@app.orchestration_trigger(context_name="context")
def process_blob(context: df.DurableOrchestrationContext):
    request = context.get_input()
    summary = yield context.call_activity("read_blob", request["path"])
    return {**summary, "etag": request["etag"]}


@app.activity_trigger(input_name="path")
def read_blob(path: str) -> dict[str, Any]:
    container, _, name = path.partition("/")
    connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions setting name
    service = BlobServiceClient.from_connection_string(connection)
    data = service.get_blob_client(container, name).download_blob().readall()
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
