"""Store safety at the process level: one host per data directory, foreign or damaged files refused and never
written, the schema versioned and migrated forward, a newer schema refused."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from devhost.durable.store import schema
from devhost.testing.host_process import start_arguments
from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import DEVHOST_PROGRAM, running_devhost
from tests.support.ports import free_ports

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow]
APP = REPO_ROOT / "tests" / "apps" / "durable_app"


def _start_and_fail(data_dir: Path, azurite: Azurite) -> subprocess.CompletedProcess[str]:
    """Run a host that must refuse to start; returns its result (it must exit by itself)."""
    port, dashboard_port = free_ports(2)
    command = [*DEVHOST_PROGRAM, *start_arguments(APP, port, dashboard_port, data_dir)]
    env = {"AzureWebJobsStorage": azurite.connection_string, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def _assert_clear_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_a_second_host_on_the_same_data_dir_is_refused(azurite: Azurite, tmp_path: Path) -> None:
    with running_devhost(APP, azurite, data_dir=tmp_path) as first:
        result = _start_and_fail(tmp_path, azurite)
        _assert_clear_refusal(result, "error:", "in use by another host process", f"pid {first.process.pid}")
        assert "--data-dir" in result.stderr
        assert first.process.poll() is None  # the first one is unaffected


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is not a database at all\n" * 100, "is not a SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "damaged"),
    ],
    ids=["garbage", "corrupt-sqlite"],
)
def test_a_damaged_store_is_refused_and_left_byte_for_byte(
    azurite: Azurite, tmp_path: Path, content: bytes, fragment: str
) -> None:
    store = tmp_path / "taskhub.sqlite"
    store.write_bytes(content)
    result = _start_and_fail(tmp_path, azurite)
    _assert_clear_refusal(result, fragment, "left untouched")
    assert store.read_bytes() == content


def test_a_foreign_sqlite_file_is_refused_and_left_byte_for_byte(azurite: Azurite, tmp_path: Path) -> None:
    store = tmp_path / "taskhub.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    before = store.read_bytes()
    result = _start_and_fail(tmp_path, azurite)
    _assert_clear_refusal(result, "not a devhost task hub", "left untouched")
    assert store.read_bytes() == before
    assert not (tmp_path / "taskhub.sqlite-wal").exists()


def _write_v1_store(path: Path) -> None:
    """A task hub exactly as schema version 1 left it, holding one completed instance."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        schema.MIGRATIONS[0](conn)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('task_hub', 'DevhostE2E')")
        conn.execute(
            "INSERT INTO instances (instance_id, execution_id, name, status, input, output, created_us, updated_us) "
            "VALUES ('old-run', 'e1', 'hello_sequence', 'Completed', 'null', '\"kept\"', 1700000000000000, "
            "1700000000000000)"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _version_and_indexes(path: Path) -> tuple[int, set[str]]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        version = schema.read_version(conn)
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    return version, indexes


def test_an_older_store_is_migrated_forward_keeping_its_data(azurite: Azurite, tmp_path: Path) -> None:
    import json
    import urllib.request

    store = tmp_path / "taskhub.sqlite"
    _write_v1_store(store)
    assert _version_and_indexes(store) == (1, _version_and_indexes(store)[1])
    assert "ix_inbox_visible" not in _version_and_indexes(store)[1]
    with running_devhost(APP, azurite, data_dir=tmp_path) as host:
        url = f"{host.base_url}/runtime/webhooks/durabletask/instances/old-run"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.loads(response.read())["output"] == "kept"
    version, indexes = _version_and_indexes(store)
    assert version == schema.SCHEMA_VERSION and {"ix_inbox_visible", "ix_instances_updated"} <= set(indexes)

    # A version row lowered by hand migrates again (the migrations are idempotent).
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with running_devhost(APP, azurite, data_dir=tmp_path):
        pass
    assert _version_and_indexes(store)[0] == schema.SCHEMA_VERSION


def test_a_store_from_a_newer_version_is_refused(azurite: Azurite, tmp_path: Path) -> None:
    with running_devhost(APP, azurite, data_dir=tmp_path):
        pass
    store = tmp_path / "taskhub.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = store.read_bytes()
    result = _start_and_fail(tmp_path, azurite)
    _assert_clear_refusal(result, "schema version 99, newer than this host supports", "--data-dir")
    assert store.read_bytes() == before
