"""Blob triggers without storage: path patterns as the WebJobs SDK binds them, indexing and the EventGrid
refusal, the poison message shape, the worker's parameter types, and the receipts file across reopen."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

import azure.functions as func
import pytest

from devhost.app.index import TriggerKind, build_index
from devhost.errors import AppLoadError, StoreCorruptError
from devhost.triggers.blob import poison_message
from devhost.triggers.blob_paths import parse_blob_path
from devhost.triggers.blob_receipts import DONE, PENDING, BlobVersion, ReceiptStore, Scope
from devhost.worker.conversions import trigger_value
from devhost.worker.indexing import index_functions

SETTINGS = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "UPLOADS": "uploads"}


@pytest.mark.parametrize(
    ("path", "blob", "expected"),
    [
        ("uploads/{name}", "a.txt", {"name": "a.txt"}),
        ("uploads/{name}", "folder/sub/a.txt", {"name": "folder/sub/a.txt"}),  # names take sub-folders
        ("uploads/{name}.{ext}", "report.final.csv", {"name": "report.final", "ext": "csv"}),  # last dot
        ("uploads/{name}.{ext}", "no-extension", None),
        ("uploads/original-{name}", "original-Blob1.txt", {"name": "Blob1.txt"}),  # the docs' example
        ("uploads/original-{name}", "copy-Blob1.txt", None),
        ("uploads/{{20140101}}-{name}", "{20140101}-soundfile.mp3", {"name": "soundfile.mp3"}),  # escaped braces
        ("uploads", "anything/at/all", {}),  # a container alone: every blob
        ("uploads/exact.txt", "exact.txt", {}),
        ("uploads/exact.txt", "exact.txt.bak", None),
        ("uploads/{first-part}/{rest}", "x/y/z", {"first-part": "x/y", "rest": "z"}),
    ],
)
def test_patterns_bind_like_the_webjobs_sdk(path: str, blob: str, expected: dict[str, str] | None) -> None:
    assert parse_blob_path(path, "test").match(blob) == expected


def test_literal_prefix_narrows_the_listing() -> None:
    assert parse_blob_path("uploads/in/{name}.{ext}", "t").prefix == "in/"
    assert parse_blob_path("uploads/{name}", "t").prefix == ""
    assert parse_blob_path("uploads/{{x}}{name}", "t").prefix == "{x}"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("{container}/{name}", "the container name cannot be a {binding expression}"),
        ("Uploads/{name}", "'Uploads' is not a valid container name"),
        ("uploads/{name", "'{' without a closing '}'"),
        ("uploads/name}", "unmatched '}'"),
        ("uploads/{a.b}", "{a.b} is not a parameter name"),
        ("uploads/{name}/{NAME}", "{NAME} appears twice"),
    ],
)
def test_bad_paths_fail_naming_where_and_what(path: str, fragment: str) -> None:
    with pytest.raises(AppLoadError) as failure:
        parse_blob_path(path, "function 'f', blob trigger 'b'")
    assert str(failure.value).startswith(f"function 'f', blob trigger 'b': path {path!r}: ")
    assert fragment in str(failure.value)


def _index(app: func.FunctionApp):
    metadata = [function.metadata() for function in index_functions(list(app.get_functions()))]
    return build_index(metadata, SETTINGS)


def test_blob_trigger_is_indexed_with_its_connection_and_resolved_path() -> None:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="blob", path="%UPLOADS%/{name}", connection="AzureWebJobsStorage")
    def on_upload(blob: func.InputStream) -> None:
        raise NotImplementedError

    (function,) = _index(app).functions
    assert function.kind is TriggerKind.BLOB
    assert function.trigger.get("path") == "uploads/{name}"
    assert function.trigger.connection_string == "UseDevelopmentStorage=true"


def test_connection_names_an_app_setting_as_for_queues() -> None:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="Uploads")
    def on_upload(blob: func.InputStream) -> None:
        raise NotImplementedError

    metadata = [function.metadata() for function in index_functions(list(app.get_functions()))]
    (function,) = build_index(metadata, {"UploadsAccount": "x", "AzureWebJobsUploads": "AccountName=uploads"}).functions
    assert function.trigger.connection_string == "AccountName=uploads"  # AzureWebJobs<name> is tried too
    with pytest.raises(AppLoadError, match="the storage connection app setting 'Uploads' is not set"):
        build_index(metadata, {})


def test_event_grid_source_is_refused_with_the_polling_source_named() -> None:
    app = func.FunctionApp()

    @app.blob_trigger(
        arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID
    )
    def on_upload(blob: func.InputStream) -> None:
        raise NotImplementedError

    with pytest.raises(AppLoadError) as failure:
        _index(app)
    message = str(failure.value)
    assert message.startswith("function 'on_upload': blob trigger 'blob' has source=\"EventGrid\"")
    assert "devhost runs the polling source (LogsAndContainerScan)" in message


def test_explicit_polling_source_is_accepted() -> None:
    app = func.FunctionApp()

    @app.blob_trigger(
        arg_name="blob",
        path="uploads/{name}",
        connection="AzureWebJobsStorage",
        source=func.BlobSource.LOGS_AND_CONTAINER_SCAN,
    )
    def on_upload(blob: func.InputStream) -> None:
        raise NotImplementedError

    assert _index(app).functions[0].kind is TriggerKind.BLOB


def test_poison_message_has_the_hosts_shape_and_key_order() -> None:
    text = poison_message("resize", BlobVersion("uploads", "a/b.png", '"0x8DC0"', "BlockBlob"))
    # azure-sdk-for-net BlobTriggerMessageTests.CanSerializeBlobTriggerMessage, byte for byte.
    assert text == (
        '{"Type":"BlobTrigger","FunctionId":"Host.Functions.resize","BlobType":"BlockBlob",'
        '"ContainerName":"uploads","BlobName":"a/b.png","ETag":"\\"0x8DC0\\""}'
    )


def test_worker_builds_input_stream_bytes_and_str() -> None:
    data = {
        "data": base64.b64encode(b"hello").decode(),
        "name": "uploads/a.txt",
        "uri": "http://127.0.0.1:10000/devstoreaccount1/uploads/a.txt",
        "length": 5,
        "properties": {"ContentLength": 5, "ETag": '"0x1"'},
        "metadata": {"k": "v"},
    }
    stream = trigger_value("blobTrigger", data, func.InputStream)
    assert (stream.name, stream.uri, stream.length, stream.read()) == ("uploads/a.txt", data["uri"], 5, b"hello")
    assert stream.blob_properties["ETag"] == '"0x1"' and stream.metadata == {"k": "v"}
    assert trigger_value("blobTrigger", data, None).read() == b"hello"  # unannotated: InputStream too
    assert trigger_value("blobTrigger", data, bytes) == b"hello"
    assert trigger_value("blobTrigger", data, str) == "hello"


def test_receipts_survive_reopen_and_count_tries(tmp_path: Path) -> None:
    scope = Scope("f", "devstoreaccount1", "uploads")
    first = BlobVersion("uploads", "a.txt", '"0x1"', "BlockBlob")
    second = BlobVersion("uploads", "a.txt", '"0x2"', "BlockBlob")

    async def scenario() -> None:
        store = ReceiptStore.open(tmp_path)
        try:
            assert await store.record(scope, [first]) == [first]
            assert await store.record(scope, [first, second]) == [second]  # a version is recorded once
            assert await store.begin_attempt(scope, first) == 1
            assert await store.begin_attempt(scope, first) == 2
            await store.finish(scope, first, DONE)
        finally:
            await store.close()
        reopened = ReceiptStore.open(tmp_path)
        try:
            assert await reopened.latest_etags(scope) == {"a.txt": '"0x2"'}
            assert [(r.version, r.status, r.dequeue_count) for r in await reopened.unfinished(scope)] == [
                (second, PENDING, 0)
            ]
            counts = await reopened.counts(scope)
            assert (counts.blobs_seen, counts.versions, counts.done, counts.pending) == (1, 2, 1, 1)
            assert await reopened.latest_etags(Scope("other", "devstoreaccount1", "uploads")) == {}
        finally:
            await reopened.close()

    asyncio.run(scenario())


def test_a_foreign_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "blobtriggers.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorruptError, match="is not a devhost blob trigger receipts file"):
        ReceiptStore.open(tmp_path)
    assert path.read_bytes() == before
    (tmp_path / "blobtriggers.sqlite").write_bytes(json.dumps({"not": "sqlite"}).encode())
    with pytest.raises(StoreCorruptError, match="move it away"):
        ReceiptStore.open(tmp_path)
