"""Entity critical sections in the task hub store: whole lock sets granted in arrival order, releases, locks that
die with their execution, orphaned locks, and a version 4 store that migrates to hold them."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.durable.models import RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.durable.store import queries as q
from devhost.durable.store import schema

NOW_US = 1_800_000_000_000_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    schema.migrate(connection, "Hub")
    for name in ("one", "two", "three"):
        q.create_instance(
            connection,
            q.NewInstance(name, f"{name}-x1", "locker", None, NOW_US),
            q.NewMessage(name, f"{name}-x1", "start", {"EventType": EventType.EXECUTION_STARTED}, NOW_US),
        )
    connection.execute("DELETE FROM inbox")
    yield connection
    connection.close()


def _update(instance_id: str, status: RuntimeStatus) -> q.InstanceUpdate:
    return q.InstanceUpdate(f"{instance_id}-x1", status, None, None, NOW_US, None, None, None, None)


def _request(conn: sqlite3.Connection, instance_id: str, section: str, *entities: str) -> list[str]:
    commit = q.EpisodeCommit(
        instance_id,
        lock_requests=[q.LockRequest(section, instance_id, f"{instance_id}-x1", list(entities))],
        update=_update(instance_id, RuntimeStatus.RUNNING),
    )
    return q.commit_episode(conn, commit)


def _release(conn: sqlite3.Connection, instance_id: str, section: str, *entities: str) -> list[str]:
    commit = q.EpisodeCommit(
        instance_id,
        lock_releases=[q.LockRelease(entity, section) for entity in entities],
        update=_update(instance_id, RuntimeStatus.RUNNING),
    )
    return q.commit_episode(conn, commit)


def _grants(conn: sqlite3.Connection, instance_id: str) -> list[str]:
    rows = conn.execute("SELECT payload FROM inbox WHERE instance_id = ? ORDER BY msg_id", (instance_id,))
    events = [json.loads(row[0]) for row in rows]
    assert all(event["EventType"] == EventType.EVENT_RAISED for event in events)
    return [event["Name"] for event in events]


def test_a_lock_set_is_granted_whole_and_overlapping_requests_wait_in_arrival_order(conn: sqlite3.Connection):
    assert _request(conn, "one", "s1", "@e@a", "@e@b") == ["one"]
    assert _request(conn, "two", "s2", "@e@b", "@e@c") == []  # overlaps s1 on b: waits, c stays free
    assert _request(conn, "three", "s3", "@e@c") == ["three"]  # no overlap with a held lock: granted at once
    assert q.entity_lock_holders(conn) == {"@e@a": "one", "@e@b": "one", "@e@c": "three"}
    assert _release(conn, "one", "s1", "@e@a") == []  # b is still held
    assert _release(conn, "three", "s3", "@e@c") == []
    assert _release(conn, "one", "s1", "@e@b") == ["two"]
    assert q.entity_lock_holders(conn) == {"@e@b": "two", "@e@c": "two"}
    assert _grants(conn, "one") == ["s1"] and _grants(conn, "two") == ["s2"] and _grants(conn, "three") == ["s3"]
    reply = json.loads(conn.execute("SELECT payload FROM inbox WHERE instance_id = 'two'").fetchone()[0])["Input"]
    assert json.loads(reply) == {"result": json.dumps(q.LOCK_GRANTED_RESULT)}


def test_entity_records_name_the_orchestration_that_holds_them(conn: sqlite3.Connection):
    conn.execute("INSERT INTO entities (entity_id, name, entity_key, state) VALUES ('@e@a', 'e', 'a', '1')")
    _request(conn, "one", "s1", "@e@a")
    record = q.get_entity(conn, "@e@a")
    assert record is not None and record.locked_by == "one"  # DTFx's EntityMetadata.LockedBy: the instance id
    assert [entity.locked_by for entity in q.list_entities(conn, "e", 10)] == ["one"]
    _release(conn, "one", "s1", "@e@a")
    assert q.get_entity(conn, "@e@a") == dataclasses.replace(record, locked_by=None)


def test_a_release_for_another_critical_section_changes_nothing(conn: sqlite3.Connection):
    _request(conn, "one", "s1", "@e@a")
    _request(conn, "two", "s2", "@e@a")
    assert _release(conn, "two", "s2", "@e@a") == []
    assert q.entity_lock_holders(conn) == {"@e@a": "one"}


@pytest.mark.parametrize("status", [RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED])
def test_an_execution_that_ends_gives_up_its_locks_and_requests(conn: sqlite3.Connection, status: RuntimeStatus):
    _request(conn, "one", "s1", "@e@a")
    _request(conn, "two", "s2", "@e@a", "@e@b")
    _request(conn, "three", "s3", "@e@b")  # b is not held (two waits): granted
    assert q.entity_lock_holders(conn) == {"@e@a": "one", "@e@b": "three"}
    assert q.commit_episode(conn, q.EpisodeCommit("two", update=_update("two", status))) == []
    assert q.commit_episode(conn, q.EpisodeCommit("one", update=_update("one", status))) == []
    assert conn.execute("SELECT COUNT(*) FROM lock_requests").fetchone()[0] == 0  # two's request went with it
    assert q.entity_lock_holders(conn) == {"@e@b": "three"}


def test_a_new_execution_of_the_same_instance_starts_without_the_old_locks(conn: sqlite3.Connection):
    _request(conn, "one", "s1", "@e@a")
    _request(conn, "two", "s2", "@e@a")
    # Continue-as-new (or a restart under the same id) resets the history: the old execution's locks go.
    commit = q.EpisodeCommit("one", reset_history=True, update=_update("one", RuntimeStatus.RUNNING))
    assert q.commit_episode(conn, commit) == ["two"]


def test_orphaned_locks_are_released_and_their_waiters_granted(conn: sqlite3.Connection):
    _request(conn, "one", "s1", "@e@a")
    _request(conn, "two", "s2", "@e@a")
    # An ended holder whose locks stayed (a row written by hand: the store never leaves one behind itself).
    conn.execute("UPDATE instances SET status = ? WHERE instance_id = 'one'", (RuntimeStatus.TERMINATED.value,))
    assert q.release_orphaned_locks(conn) == (["@e@a"], ["two"])
    assert q.release_orphaned_locks(conn) == ([], [])


def test_a_version_4_store_migrates_to_hold_locks(tmp_path: Path):
    path = tmp_path / "hub.db"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        for version in range(4):
            schema.MIGRATIONS[version](connection)
        connection.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '4')")
        connection.execute("COMMIT")
        assert schema.migrate(connection, "Hub") == 4
        assert schema.read_version(connection) == schema.SCHEMA_VERSION == 5
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"entity_locks", "lock_requests"} <= tables
        # Lowered by hand, the version 5 step runs again without harm.
        connection.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        assert schema.migrate(connection, "Hub") == 4
    finally:
        connection.close()
