"""kill -9 during a burst of 200 blob uploads, twice, then restart: every blob version is processed once
(one done receipt, one completed orchestration that read its bytes) and nothing is lost."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, start_devhost
from tests.support.storage import unique_name
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(300)]

APP = Path(__file__).resolve().parents[1] / "apps" / "blob_durable_app"
BLOBS = 200
KILLS = 2
#: Invocations a host runs at once (host.json queues batchSize 16 + newBatchThreshold 8, the defaults):
#: the most a kill can cut short, and so run again.
IN_FLIGHT = 24


def _upload(container: ContainerClient, names: list[str]) -> dict[str, tuple[str, str]]:
    """Upload in parallel; returns name -> (etag, sha256 of the bytes)."""

    def one(name: str) -> tuple[str, tuple[str, str]]:
        data = f"{name}:".encode() * (1 + len(name) % 7)
        blob = container.upload_blob(name, data)
        return name, (str(blob.get_blob_properties().etag), hashlib.sha256(data).hexdigest())

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, names))


def _started(seen: Path) -> int:
    return len(seen.read_text().splitlines()) if seen.exists() else 0


def _started_at_least(seen: Path, count: int) -> bool:
    return _started(seen) >= count


def _instance_id(path: str, etag: str) -> str:
    return "blob-" + hashlib.sha256(f"{path}|{etag}".encode()).hexdigest()[:32]


def _get(host: DevHost, path: str) -> object:
    with urllib.request.urlopen(f"{host.base_url}/runtime/webhooks/durabletask/{path}", timeout=10) as response:
        return json.loads(response.read())


def _completed_count(host: DevHost) -> int:
    instances = _get(host, "instances?runtimeStatus=Completed&top=1000")
    assert isinstance(instances, list)
    return len(instances)


def test_sigkill_during_a_burst_of_uploads_processes_each_version_once(azurite: Azurite, tmp_path: Path) -> None:
    container_name = unique_name("bd-crash-")
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(container_name)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    seen = tmp_path / "seen.tsv"
    env = {"BLOB_INPUT": container_name, "BLOB_SEEN": str(seen)}
    data_dir = tmp_path / "data"
    names = [f"burst/{index:03d}.txt" for index in range(BLOBS)]
    uploaded: dict[str, tuple[str, str]] = {}
    outputs: list[str] = []

    host = start_devhost(APP, azurite, data_dir=data_dir, extra_env=env)
    try:
        # Kill 1: while the first half is being processed. Kill 2: after the second half landed (some of it
        # uploaded while no host ran), again mid-processing.
        for part, threshold in ((names[: BLOBS // 2], BLOBS // 5), (names[BLOBS // 2 :], BLOBS // 2 + BLOBS // 5)):
            uploaded.update(_upload(container, part))
            wait_until(functools.partial(_started_at_least, seen, threshold), 60, f"{threshold} starter invocations")
            host.kill()
            outputs.append(host.output())
            host = start_devhost(APP, azurite, data_dir=data_dir, extra_env=env)
        wait_until(lambda: _completed_count(host) >= BLOBS, 180, f"{BLOBS} completed orchestrations")

        # One completed orchestration per version, with the bytes its activity read.
        for name, (etag, digest) in uploaded.items():
            status = _get(host, f"instances/{_instance_id(f'{container_name}/{name}', etag)}")
            assert isinstance(status, dict)
            assert status["runtimeStatus"] == "Completed", (name, status)
            output = status["output"]
            assert output["sha256"] == digest and output["etag"] == etag, (name, output)
        assert _completed_count(host) == BLOBS  # and no other orchestration
    finally:
        assert host.terminate() == 0
        outputs.append(host.output())

    # One done receipt per version; re-runs only for what the kills cut short.
    with contextlib.closing(sqlite3.connect(data_dir / "blobtriggers.sqlite")) as db:
        rows = db.execute("SELECT blob, etag, status, dequeue_count FROM receipts").fetchall()
    assert sorted((blob, etag) for blob, etag, _, _ in rows) == sorted((n, e) for n, (e, _) in uploaded.items())
    assert {status for _, _, status, _ in rows} == {"done"}
    re_runs = sum(count - 1 for _, _, _, count in rows)
    assert all(count >= 1 for _, _, _, count in rows)
    print(f"re-runs after {KILLS} kills: {re_runs}; starter runs: {len(seen.read_text().splitlines())}")
    assert re_runs <= KILLS * IN_FLIGHT, re_runs

    # The starter ran for every version: once, plus the runs a kill cut short.
    runs = [tuple(line.split("\t")) for line in seen.read_text().splitlines()]
    assert {run[0] for run in runs} == {f"{container_name}/{name}" for name in names}
    assert len(runs) - BLOBS <= KILLS * IN_FLIGHT
    assert len(runs) - BLOBS <= re_runs  # a kill may also land before a starter wrote its line
    assert "unexpected error" not in "".join(outputs), "".join(outputs)[-4000:]
