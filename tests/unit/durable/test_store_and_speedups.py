"""The SDK timestamp fast path, the schema bookkeeping, the inbox and history reads, and entity batches through the
real SDK."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from dateutil.parser import parse as dateutil_parse

from devhost.durable import entities as ent
from devhost.durable.store import queries as q
from devhost.durable.store import schema
from devhost.durable.store.queries import decode_token, encode_token
from devhost.durable.store.sqlite import DB_NAME, SqliteStore
from devhost.errors import InvalidRequestError
from devhost.worker.durable import run_entity
from devhost.worker.sdk_speedups import parse_timestamp


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:00:00.123456Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.1234567Z",
        "2024-05-01T10:00:00.5Z",
        "2024-05-01T10:00:00+02:00",  # not the host's format: falls back to dateutil
    ],
)
def test_fast_timestamp_parser_matches_dateutil_exactly(text: str) -> None:
    fast, slow = parse_timestamp(text), dateutil_parse(text)
    assert fast == slow
    assert repr(fast) == repr(slow)


def test_new_store_records_schema_version_and_application_id(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path, "Hub")
    store.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
        assert schema.read_version(conn) == schema.SCHEMA_VERSION
        assert conn.execute("SELECT value FROM meta WHERE key = 'task_hub'").fetchone()[0] == "Hub"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    # Reopening an up-to-date store migrates nothing and keeps the data.
    SqliteStore.open(tmp_path, "Hub").close()


def test_continuation_tokens_roundtrip_and_reject_garbage() -> None:
    assert decode_token(encode_token(123, "a/b")) == (123, "a/b")
    with pytest.raises(InvalidRequestError):
        decode_token("%%%")


def test_entity_batch_through_the_sdk_handle() -> None:
    import azure.durable_functions as df

    def counter(context: df.DurableEntityContext) -> None:
        value = context.get_state(lambda: 0)
        if context.operation_name == "add":
            context.set_state(value + context.get_input())
        elif context.operation_name == "get":
            context.set_result(value)
        else:
            raise ValueError("nope")

    handle = df.Entity.create(counter)
    ops = [
        ent.EntityOperation("add", json.dumps("5")),
        ent.EntityOperation("get", "null", request_id="r1", reply_instance_id="i"),
        ent.EntityOperation("bad", "null", request_id="r2", reply_instance_id="i"),
    ]
    response = run_entity(handle, ent.build_batch_request("counter", "k", "2", ops))
    outcome = ent.parse_batch_response(response, len(ops))
    assert outcome.exists and outcome.state == "7"
    assert [r.is_error for r in outcome.results] == [False, False, True]
    assert json.loads(outcome.results[1].result) == 7
    reply = json.loads(ent.reply_input(outcome.results[2]))
    assert reply["exceptionType"] == "Error" and json.loads(reply["result"]) == "nope"
    failed = ent.failed_batch("Entity function 'ghost' does not exist.", 1, None)
    assert failed.results[0].is_error and "does not exist" in failed.results[0].result


def test_inbox_reads_a_limited_first_part_in_arrival_order_and_history_knows_its_size(tmp_path: Path) -> None:
    # The engine reads an episode's inbox on the event loop with a LIMIT, and a history there when it is small.
    conn = sqlite3.connect(tmp_path / "hub.sqlite", isolation_level=None)
    schema.migrate(conn, "Hub")
    messages = [q.NewMessage("i", "e", "event", {"EventType": 5, "TaskScheduledId": n}, n) for n in range(10)]
    q._insert_messages(conn, messages)
    first = q.read_inbox(conn, "i", now_us=100, limit=4)
    assert [m.payload["TaskScheduledId"] for m in first] == [0, 1, 2, 3]
    assert [m.payload["TaskScheduledId"] for m in q.read_inbox(conn, "i", now_us=100)] == list(range(10))
    assert [m.payload["TaskScheduledId"] for m in q.read_inbox(conn, "i", now_us=5, limit=100)] == list(range(6))
    assert q.history_bytes(conn, "i") == 0
    chunks = [[{"EventType": 12, "Timestamp": "2026-01-01T00:00:00Z"}], [{"EventType": 13, "Name": "é"}]]
    for chunk in chunks:
        q.append_history(conn, "i", chunk)
    assert q.history_bytes(conn, "i") == sum(len(json.dumps(chunk, separators=(",", ":")).encode()) for chunk in chunks)
    assert q.load_history(conn, "i") == [event for chunk in chunks for event in chunk]
    conn.close()
