"""Blob triggers end to end against a real Azurite: new, changed, deleted and pre-existing blobs, name
patterns bound into output paths, the poison queue, a container created after start, the EventGrid refusal,
and a blob-triggered durable starter whose orchestration reads the blob's bytes."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.storage import drain, queue_client, unique_name
from tests.support.waiting import wait_until

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def _container(azurite: Azurite, name: str, *, create: bool = True) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(name)
    if create:
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
    return client


def _etag(blob: BlobClient) -> str:
    return str(blob.get_blob_properties().etag)


def _seen(path: Path, function: str) -> list[list[str]]:
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [row[1:] for row in rows if row[0] == function]


def _read_json(container: ContainerClient, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(container.download_blob(name).readall())
    except ResourceNotFoundError:
        return None


def _wait_json(container: ContainerClient, name: str, what: str, text: str | None = None) -> dict[str, Any]:
    """The JSON an output blob holds, once it exists (and its "text" is text, when given)."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        value = _read_json(container, name)
        if value is None or (text is not None and value["text"] != text):
            return False
        found.update(value)
        return True

    wait_until(ready, 15, what)
    return found


def _wait_scans(host: DevHost, seconds: float = 2.0) -> None:
    """Give the host a few scans (the scan interval is 0.5 s) in which something must NOT happen."""
    time.sleep(seconds)
    assert host.process.poll() is None, host.output()[-3000:]


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    suffix = unique_name("")
    return {
        "BLOB_INPUT": f"ba-input-{suffix}",
        "BLOB_OUTPUT": f"ba-output-{suffix}",
        "BLOB_PATTERN": f"ba-pattern-{suffix}",
        "BLOB_FAILING": f"ba-failing-{suffix}",
    }


@pytest.fixture(scope="module")
def seen_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blob-seen") / "seen.tsv"


@pytest.fixture(scope="module")
def blob_host(
    azurite: Azurite, names: dict[str, str], seen_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevHost]:
    # A blob that exists before the host starts fires too, as in the Functions host.
    _container(azurite, names["BLOB_INPUT"]).upload_blob("before-start.txt", b"already here")
    # BLOB_PATTERN's container does not exist yet: the host waits for it quietly.
    env = {**names, "BLOB_SEEN": str(seen_file)}
    with running_devhost(APPS / "blob_app", azurite, data_dir=tmp_path_factory.mktemp("blob"), extra_env=env) as host:
        yield host


def test_existing_new_changed_and_deleted_blobs(
    blob_host: DevHost, azurite: Azurite, names: dict[str, str], seen_file: Path
) -> None:
    inputs = _container(azurite, names["BLOB_INPUT"])
    outputs = _container(azurite, names["BLOB_OUTPUT"])
    existing = _wait_json(outputs, "before-start.txt.json", "the pre-existing blob to fire")
    assert existing["text"] == "already here"
    assert existing["name"] == f"{names['BLOB_INPUT']}/before-start.txt"

    inputs.upload_blob("docs/new.txt", b"first version", metadata={"origin": "test"})
    first = _wait_json(outputs, "docs/new.txt.json", "the new blob to fire")
    assert first["name"] == f"{names['BLOB_INPUT']}/docs/new.txt"  # {name} takes sub-folders
    assert first["length"] == len(b"first version")
    assert first["text"] == "first version"
    assert str(first["uri"]).endswith(f"/{names['BLOB_INPUT']}/docs/new.txt")
    assert first["metadata"] == {"origin": "test"}

    changed = _etag(inputs.upload_blob("docs/new.txt", b"second version", overwrite=True))
    second = _wait_json(outputs, "docs/new.txt.json", "the changed blob to fire again", text="second version")
    assert second["etag"] == changed != first["etag"]

    inputs.delete_blob("docs/new.txt")
    _wait_scans(blob_host)
    runs = [row for row in _seen(seen_file, "process_upload") if row[0].endswith("/docs/new.txt")]
    assert [row[1] for row in runs] == [first["etag"], second["etag"]]  # once per version, nothing on delete
    assert len([row for row in _seen(seen_file, "process_upload") if row[0].endswith("before-start.txt")]) == 1


def test_pattern_binds_names_and_skips_other_blobs(
    blob_host: DevHost, azurite: Azurite, names: dict[str, str], seen_file: Path
) -> None:
    blob_host.wait_for_output(f"Blob container '{names['BLOB_PATTERN']}' (function 'pattern_bound') does not exist yet")
    patterned = _container(azurite, names["BLOB_PATTERN"])  # created after start: picked up without a restart
    outputs = _container(azurite, names["BLOB_OUTPUT"])
    patterned.upload_blob("in/report.final.csv", b"a,b,c")
    patterned.upload_blob("in/no-extension", b"x")
    patterned.upload_blob("elsewhere/file.txt", b"y")
    text = wait_until(lambda: _text(outputs, "pattern/report.final-csv.txt"), 15, "the pattern-bound output blob")
    assert text == "bytes:5"  # {stem}.{ext} split at the last dot, content as bytes
    _wait_scans(blob_host)
    assert len(_seen(seen_file, "pattern_bound")) == 1
    # Waited for quietly: said once, not once per scan.
    assert blob_host.output().count(f"Blob container '{names['BLOB_PATTERN']}' (function") == 1


def _text(container: ContainerClient, name: str) -> str | None:
    try:
        return container.download_blob(name).readall().decode()
    except ResourceNotFoundError:
        return None


def test_failing_blob_goes_to_poison_queue_after_max_dequeue_count(
    blob_host: DevHost, azurite: Azurite, names: dict[str, str], seen_file: Path
) -> None:
    failing = _container(azurite, names["BLOB_FAILING"])
    uploaded = _etag(failing.upload_blob("bad.txt", b"poison me"))
    poison = queue_client(azurite.connection_string, "webjobs-blobtrigger-poison")
    found: list[dict[str, str]] = []

    def poisoned() -> bool:
        found.extend(json.loads(text) for text in drain(poison))
        return any(item["ContainerName"] == names["BLOB_FAILING"] for item in found)

    wait_until(poisoned, 30, "the poison message")
    message = next(item for item in found if item["ContainerName"] == names["BLOB_FAILING"])
    assert list(message) == ["Type", "FunctionId", "BlobType", "ContainerName", "BlobName", "ETag"]
    assert message == {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.always_fails",
        "BlobType": "BlockBlob",
        "ContainerName": names["BLOB_FAILING"],
        "BlobName": "bad.txt",
        "ETag": uploaded,
    }
    _wait_scans(blob_host)
    assert _seen(seen_file, "always_fails") == [["poison me"]] * 3  # host.json maxDequeueCount 3, then no more
    assert "has reached MaxDequeueCount of 3. Moving message to queue 'webjobs-blobtrigger-poison'" in (
        blob_host.output()
    )


def test_event_grid_source_is_refused_at_start(tmp_path: Path, azurite: Azurite) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(APPS / "blob_eventgrid_app"), "--port", "0",
         "--dashboard-port", "0", "--data-dir", str(tmp_path), "--azurite", "off"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**_env(), "AzureWebJobsStorage": azurite.connection_string},
    )  # fmt: skip
    assert result.returncode == 1
    assert "function 'on_upload': blob trigger 'blob' has source=\"EventGrid\"" in result.stderr
    assert "devhost runs the polling source (LogsAndContainerScan)" in result.stderr


def _env() -> dict[str, str]:
    return dict(os.environ)


def test_blob_triggered_durable_starter_reads_the_blob(azurite: Azurite, tmp_path: Path) -> None:
    container = unique_name("bd-input-")
    env = {"BLOB_INPUT": container, "BLOB_SEEN": str(tmp_path / "seen.tsv")}
    inputs = _container(azurite, container)
    payloads = {f"file-{index}.bin": bytes([index]) * (1000 + index) for index in range(3)}
    with running_devhost(APPS / "blob_durable_app", azurite, data_dir=tmp_path / "data", extra_env=env) as host:
        etags = {name: _etag(inputs.upload_blob(name, data)) for name, data in payloads.items()}
        for name, data in payloads.items():
            instance = _instance_id(f"{container}/{name}", etags[name])
            status = wait_until(functools.partial(_completed, host, instance), 30, f"the orchestration for {name}")
            assert status is not None
            assert status["output"] == {
                "path": f"{container}/{name}",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "etag": etags[name],
            }
        host.wait_for_output(f"Reason='New blob detected(LogsAndContainerScan): {container}/file-0.bin'")


def _instance_id(path: str, etag: str) -> str:
    return "blob-" + hashlib.sha256(f"{path}|{etag}".encode()).hexdigest()[:32]


def _completed(host: DevHost, instance_id: str) -> dict[str, Any] | None:
    url = f"{host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = json.loads(response.read())
    except OSError:
        return None
    return status if status.get("runtimeStatus") == "Completed" else None


def test_restart_fires_only_what_changed_while_stopped(azurite: Azurite, tmp_path: Path) -> None:
    suffix = unique_name("")
    env = {
        "BLOB_INPUT": f"ba-rs-in-{suffix}",
        "BLOB_OUTPUT": f"ba-rs-out-{suffix}",
        "BLOB_PATTERN": f"ba-rs-pat-{suffix}",
        "BLOB_FAILING": f"ba-rs-fail-{suffix}",
        "BLOB_SEEN": str(tmp_path / "seen.tsv"),
    }
    inputs = _container(azurite, env["BLOB_INPUT"])
    outputs = _container(azurite, env["BLOB_OUTPUT"])
    data_dir = tmp_path / "data"
    inputs.upload_blob("kept.txt", b"kept")
    inputs.upload_blob("changed.txt", b"v1")
    with running_devhost(APPS / "blob_app", azurite, data_dir=data_dir, extra_env=env):
        _wait_json(outputs, "kept.txt.json", "kept.txt to fire")
        _wait_json(outputs, "changed.txt.json", "changed.txt to fire")
    # While no host runs: one blob changes, one is new.
    inputs.upload_blob("changed.txt", b"v2", overwrite=True)
    inputs.upload_blob("new.txt", b"new")
    with running_devhost(APPS / "blob_app", azurite, data_dir=data_dir, extra_env=env) as host:
        _wait_json(outputs, "changed.txt.json", "changed.txt to fire again", text="v2")
        _wait_json(outputs, "new.txt.json", "new.txt to fire")
        _wait_scans(host)
    runs = sorted(row[0].rsplit("/", 1)[1] for row in _seen(tmp_path / "seen.tsv", "process_upload"))
    assert runs == ["changed.txt", "changed.txt", "kept.txt", "new.txt"]


def _admin_run(host: DevHost, function: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{host.base_url}/admin/functions/{function}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_admin_api_runs_a_blob_function_for_the_blob_its_input_names(
    blob_host: DevHost, azurite: Azurite, names: dict[str, str], seen_file: Path
) -> None:
    inputs = _container(azurite, names["BLOB_INPUT"])
    outputs = _container(azurite, names["BLOB_OUTPUT"])
    etag = _etag(inputs.upload_blob("manual.txt", b"run me by hand"))
    _wait_json(outputs, "manual.txt.json", "the scan to run the new blob")
    outputs.delete_blob("manual.txt.json")

    # As in the portal's Test/Run: the input is the blob's path, and the function runs once more for it.
    status, _ = _admin_run(blob_host, "process_upload", {"input": f"{names['BLOB_INPUT']}/manual.txt"})
    assert status == 202
    rerun = _wait_json(outputs, "manual.txt.json", "the manual run's output")
    assert rerun["etag"] == etag
    assert rerun["text"] == "run me by hand"
    runs = [row for row in _seen(seen_file, "process_upload") if row[0].endswith("/manual.txt")]
    assert len(runs) == 2

    status, body = _admin_run(blob_host, "process_upload", {"input": "no-slash"})
    assert status == 400
    assert "Blob identifiers must be in the format 'container/blob'" in body
    status, body = _admin_run(blob_host, "process_upload", {"input": f"{names['BLOB_INPUT']}/missing.txt"})
    assert status == 400
    assert f"blob '{names['BLOB_INPUT']}/missing.txt' does not exist" in body
    status, body = _admin_run(blob_host, "process_upload", {"input": f"{names['BLOB_OUTPUT']}/manual.txt.json"})
    assert status == 400
    assert "does not match the trigger path" in body
    # The scan did not take the manual run for a new version: still two runs.
    _wait_scans(blob_host, 1.0)
    assert len([row for row in _seen(seen_file, "process_upload") if row[0].endswith("/manual.txt")]) == 2
