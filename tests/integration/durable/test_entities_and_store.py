"""Durable entities, and the store's refusal to share or overwrite a data dir."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from devhost.durable.engine import DurableEngine
from devhost.durable.models import DurableFunctions, EngineOptions
from devhost.durable.store.sqlite import DB_NAME
from devhost.errors import FunctionNotFoundError, StoreCorruptError, StoreLockedError
from tests.integration.durable.conftest import Harness, client_body
from tests.support.waiting import wait_until_async


async def test_signal_from_client_then_read_state(harness: Harness) -> None:
    engine = harness.engine
    # Inputs arrive as the SDK client sends them: the JSON text of the JSON text.
    for _ in range(3):
        await engine.signal_entity("Counter", "client", "add", json.dumps("4"))

    async def state() -> str | None:
        record = await engine.read_entity("counter", "client")
        return record.state if record is not None and record.state == "12" else None

    assert await wait_until_async(state, message="counter state 12") == "12"
    listed = await engine.list_entities("Counter")
    assert [(e.entity_id, e.key) for e in listed] == [("@counter@client", "client")]
    await engine.signal_entity("Counter", "client", "delete", None)

    async def deleted() -> bool:
        return await engine.read_entity("Counter", "client") is None

    assert await wait_until_async(deleted, message="entity deleted")
    with pytest.raises(FunctionNotFoundError):
        await engine.signal_entity("NoSuchEntity", "k", "add", None)


async def test_orchestrator_signals_and_calls_an_entity(harness: Harness) -> None:
    record = await harness.run("entity_orch", client_body("orch-key"))
    output = json.loads(record.output or "")
    assert output["value"] == 7  # both signals ran before the call, in order
    assert "counter exploded" in output["failure"]
    entity = await harness.engine.read_entity("Counter", "orch-key")
    assert entity is not None and json.loads(entity.state or "") == 7


async def test_entity_operations_are_serialized_per_entity(harness: Harness) -> None:
    ids = [await harness.engine.start_orchestration("entity_orch", None, client_body("shared")) for _ in range(5)]
    values = sorted([json.loads((await harness.ended(i)).output or "")["value"] for i in ids])
    # Each orchestration queues add 5, add 2, get in one commit; operations run one at a time in
    # queue order, so every read sees whole multiples of 7.
    assert values == [7, 14, 21, 28, 35]


def test_second_open_of_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = DurableEngine.open(tmp_path, DurableFunctions(), EngineOptions())
    try:
        with pytest.raises(StoreLockedError, match="in use by another host process"):
            DurableEngine.open(tmp_path, DurableFunctions(), EngineOptions())
    finally:
        first._store.close()
    # Released on close: a new host can open it.
    DurableEngine.open(tmp_path, DurableFunctions(), EngineOptions())._store.close()


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreCorruptError, match="not a devhost task hub"):
        DurableEngine.open(tmp_path, DurableFunctions(), EngineOptions())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not (tmp_path / f"{DB_NAME}-wal").exists()


def test_garbage_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not a database at all" * 10)
    with pytest.raises(StoreCorruptError, match="not a SQLite database"):
        DurableEngine.open(tmp_path, DurableFunctions(), EngineOptions())
    assert path.read_bytes() == b"this is not a database at all" * 10
