"""Typed SQL operations on the task hub (functions of a connection, run by SqliteStore).

Write operations run inside the writer's transaction and must not commit. Every value goes through
SQL parameters.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from devhost.durable.history import Event, event_raised, format_ts, from_us, to_us
from devhost.durable.models import EntityRecord, InstancePage, InstanceQuery, InstanceRecord, RuntimeStatus
from devhost.errors import InstanceExistsError, InvalidRequestError

ACTIVE_STATUSES = (
    RuntimeStatus.PENDING.value,
    RuntimeStatus.RUNNING.value,
    RuntimeStatus.SUSPENDED.value,
    RuntimeStatus.CONTINUED_AS_NEW.value,
)

# ------------------------------------------------------------------------------------------------
# Records

#: An orchestration message's kind: "start" carries an ExecutionStarted event, "event" any other history event.
MessageKind = Literal["start", "event"]
#: A value bound to an SQL parameter.
SqlValue = str | int | float | None


@dataclass(frozen=True)
class InstanceRow:
    """An instances row: the public record plus what only the engine needs."""

    record: InstanceRecord
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    replay_state: str | None = None


@dataclass(frozen=True)
class NewInstance:
    """A instance row to create (a started orchestration or a sub-orchestration)."""

    instance_id: str
    execution_id: str
    name: str
    input: str | None
    created_us: int
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    #: The instance's tags as JSON text (an object of strings), or None.
    tags: str | None = None


@dataclass(frozen=True)
class InboxMessage:
    """A stored orchestration message."""

    msg_id: int
    instance_id: str
    execution_id: str | None
    kind: MessageKind
    payload: Event
    visible_us: int


@dataclass(frozen=True)
class NewMessage:
    """An orchestration message to store; its payload is a history event."""

    instance_id: str
    execution_id: str | None
    kind: MessageKind
    payload: Event
    visible_us: int


@dataclass(frozen=True)
class WorkItem:
    """An activity to run for task `task_id` of an execution."""

    work_id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class EntityMessage:
    """A stored entity operation (msg_id 0 before storing)."""

    entity_id: str
    operation: str
    input: str
    request_id: str | None = None
    reply_instance_id: str | None = None
    reply_execution_id: str | None = None
    msg_id: int = 0
    #: When a scheduled operation becomes due (UTC microseconds); None: at once.
    visible_us: int | None = None


@dataclass(frozen=True)
class LockRequest:
    """An orchestration's request to lock a set of entities at once (one critical section)."""

    critical_section_id: str
    instance_id: str
    execution_id: str
    #: Entity ids ('@name@key') in the order the orchestration sent them.
    lock_set: list[str]


@dataclass(frozen=True)
class LockRelease:
    """An orchestration's release of one entity it locked in a critical section."""

    entity_id: str
    critical_section_id: str


@dataclass(frozen=True)
class ChildStart:
    """A sub-orchestration to create, and what to tell the parent if its id is taken."""

    instance: NewInstance
    start: NewMessage
    refusal: NewMessage


@dataclass(frozen=True)
class InstanceUpdate:
    """New values for an instance row after an episode or a management operation."""

    execution_id: str
    status: RuntimeStatus
    output: str | None
    custom_status: str | None
    updated_us: int
    completed_us: int | None
    failure_message: str | None
    replay_state: str | None
    input: str | None


@dataclass
class EpisodeCommit:
    """Everything one episode writes, committed in one transaction."""

    instance_id: str
    reset_history: bool = False
    history_chunk: list[Event] | None = None
    consumed: list[int] = field(default_factory=list)
    drop_inbox: bool = False
    drop_work_items: bool = False
    #: Replace the stored history by history_chunk (rewind) instead of appending it.
    replace_history: bool = False
    work_items: list[WorkItem] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    entity_messages: list[EntityMessage] = field(default_factory=list)
    lock_requests: list[LockRequest] = field(default_factory=list)
    lock_releases: list[LockRelease] = field(default_factory=list)
    update: InstanceUpdate | None = None


# ------------------------------------------------------------------------------------------------
# Instances

_INSTANCE_COLUMNS = (
    "instance_id, execution_id, name, status, input, output, custom_status, created_us, updated_us, "
    "completed_us, parent_instance_id, failure_message, parent_execution_id, parent_task_id, replay_state, tags"
)
#: A row of _INSTANCE_COLUMNS as SQLite returns it (the columns' types in schema.py).
_InstanceColumns = tuple[
    str, str, str, str, str | None, str | None, str | None, int, int, int | None, str | None, str | None,
    str | None, int | None, str | None, str | None,
]  # fmt: skip


def _row_to_instance(row: _InstanceColumns) -> InstanceRow:
    record = InstanceRecord(
        instance_id=row[0],
        execution_id=row[1],
        name=row[2],
        runtime_status=RuntimeStatus(row[3]),
        input=row[4],
        output=row[5],
        custom_status=row[6],
        created_time=from_us(row[7]),
        last_updated_time=from_us(row[8]),
        completed_time=from_us(row[9]) if row[9] is not None else None,
        parent_instance_id=row[10],
        failure_message=row[11],
        tags=json.loads(row[15]) if row[15] else None,
    )
    return InstanceRow(record, row[12], row[13], row[14])


def get_instance(conn: sqlite3.Connection, instance_id: str) -> InstanceRow | None:
    """The instance's row, or None."""
    row = conn.execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    return _row_to_instance(row) if row else None


def _clear_instance(conn: sqlite3.Connection, instance_id: str) -> None:
    conn.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM work_items WHERE instance_id = ?", (instance_id,))


def _insert_instance(conn: sqlite3.Connection, new: NewInstance) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO instances (instance_id, execution_id, name, status, input, output, custom_status, "
        "created_us, updated_us, completed_us, parent_instance_id, parent_execution_id, parent_task_id, "
        "failure_message, replay_state, tags) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, NULL, ?, ?, ?, NULL, NULL, ?)",
        (
            new.instance_id,
            new.execution_id,
            new.name,
            RuntimeStatus.PENDING.value,
            new.input,
            new.created_us,
            new.created_us,
            new.parent_instance_id,
            new.parent_execution_id,
            new.parent_task_id,
            new.tags,
        ),
    )


def _insert_messages(conn: sqlite3.Connection, messages: list[NewMessage]) -> None:
    if messages:
        conn.executemany(
            "INSERT INTO inbox (instance_id, execution_id, kind, payload, visible_us) VALUES (?, ?, ?, ?, ?)",
            [(m.instance_id, m.execution_id, m.kind, json.dumps(m.payload), m.visible_us) for m in messages],
        )


def create_instance(conn: sqlite3.Connection, new: NewInstance, start: NewMessage) -> None:
    """Create (or replace an ended) instance and queue its ExecutionStarted message."""
    row = conn.execute("SELECT status FROM instances WHERE instance_id = ?", (new.instance_id,)).fetchone()
    if row and row[0] in ACTIVE_STATUSES:
        raise InstanceExistsError(f"an instance with id '{new.instance_id}' already exists and is {row[0]}")
    if row:
        _clear_instance(conn, new.instance_id)
    _insert_instance(conn, new)
    _insert_messages(conn, [start])


def update_instance(conn: sqlite3.Connection, instance_id: str, update: InstanceUpdate) -> None:
    """Write an instance's new status and outputs."""
    conn.execute(
        "UPDATE instances SET execution_id = ?, status = ?, output = ?, custom_status = ?, updated_us = ?, "
        "completed_us = ?, failure_message = ?, replay_state = ?, input = ? WHERE instance_id = ?",
        (
            update.execution_id,
            update.status.value,
            update.output,
            update.custom_status,
            update.updated_us,
            update.completed_us,
            update.failure_message,
            update.replay_state,
            update.input,
            instance_id,
        ),
    )


def commit_episode(conn: sqlite3.Connection, commit: EpisodeCommit) -> list[str]:
    """Apply an episode; returns the ids of the instances that got new messages."""
    iid = commit.instance_id
    touched: list[str] = []
    if commit.reset_history or commit.replace_history:
        conn.execute("DELETE FROM history WHERE instance_id = ?", (iid,))
    if commit.drop_work_items:
        conn.execute("DELETE FROM work_items WHERE instance_id = ?", (iid,))
    if commit.history_chunk:
        append_history(conn, iid, commit.history_chunk)
    if commit.drop_inbox:
        conn.execute("DELETE FROM inbox WHERE instance_id = ?", (iid,))
    elif commit.consumed:
        conn.executemany("DELETE FROM inbox WHERE msg_id = ?", [(m,) for m in commit.consumed])
    if commit.work_items:
        conn.executemany(
            "INSERT INTO work_items (work_id, instance_id, execution_id, task_id, name, input, created_us) "
            "VALUES (?, ?, ?, ?, ?, ?, strftime('%s', 'now') * 1000000)",
            [(w.work_id, w.instance_id, w.execution_id, w.task_id, w.name, w.input) for w in commit.work_items],
        )
    _insert_messages(conn, commit.messages)
    touched.extend(m.instance_id for m in commit.messages)
    for child in commit.children:
        row = conn.execute(
            "SELECT status FROM instances WHERE instance_id = ?", (child.instance.instance_id,)
        ).fetchone()
        if row and row[0] in ACTIVE_STATUSES:
            _insert_messages(conn, [child.refusal])
            touched.append(child.refusal.instance_id)
            continue
        if row:
            _clear_instance(conn, child.instance.instance_id)
        _insert_instance(conn, child.instance)
        _insert_messages(conn, [child.start])
        touched.append(child.instance.instance_id)
    insert_entity_messages(conn, commit.entity_messages)
    touched.extend(_apply_locks(conn, commit))
    if commit.update is not None:
        update_instance(conn, iid, commit.update)
    return touched


# ------------------------------------------------------------------------------------------------
# Entity locks (critical sections)

#: Result text of a lock grant's reply (what Durable Functions' entity scheduler answers a lock request with).
LOCK_GRANTED_RESULT = "Lock Acquisition Completed"


def _apply_locks(conn: sqlite3.Connection, commit: EpisodeCommit) -> list[str]:
    """Record an episode's lock requests and releases, and grant the waiting requests that can now be granted;
    returns the instances that got a grant. An execution that ends (completed, failed, terminated) or is
    replaced (continue-as-new, a restart under the same id) gives up every lock it holds or waits for."""
    iid = commit.instance_id
    update = commit.update
    ends = update is not None and (update.status.value not in ACTIVE_STATUSES or commit.reset_history)
    changed = bool(commit.lock_requests or commit.lock_releases)
    if ends:
        released = conn.execute("DELETE FROM entity_locks WHERE instance_id = ?", (iid,)).rowcount
        dropped = conn.execute("DELETE FROM lock_requests WHERE instance_id = ?", (iid,)).rowcount
        changed = changed or released > 0 or dropped > 0
    if update is None or update.status.value in ACTIVE_STATUSES:
        conn.executemany(
            "INSERT INTO lock_requests (critical_section_id, instance_id, execution_id, lock_set) VALUES (?, ?, ?, ?)",
            [
                (request.critical_section_id, request.instance_id, request.execution_id, json.dumps(request.lock_set))
                for request in commit.lock_requests
            ],
        )
    conn.executemany(
        "DELETE FROM entity_locks WHERE entity_id = ? AND critical_section_id = ?",
        [(r.entity_id, r.critical_section_id) for r in commit.lock_releases],
    )
    if not changed:
        return []
    now_us = update.updated_us if update is not None else to_us(datetime.now(UTC))
    return grant_waiting_locks(conn, now_us)


def grant_waiting_locks(conn: sqlite3.Connection, now_us: int) -> list[str]:
    """Grant, in arrival order, every waiting request none of whose entities is locked (the whole set at once);
    each grant is an EventRaised named by the critical section for its orchestration. Returns those instances."""
    granted: list[str] = []
    requests = conn.execute(
        "SELECT request_id, critical_section_id, instance_id, execution_id, lock_set FROM lock_requests "
        "ORDER BY request_id"
    ).fetchall()
    for request_id, section, instance_id, execution_id, lock_set_json in requests:
        lock_set: list[str] = json.loads(lock_set_json)
        marks = ", ".join("?" for _ in lock_set)
        held = conn.execute(f"SELECT 1 FROM entity_locks WHERE entity_id IN ({marks}) LIMIT 1", lock_set).fetchone()
        if held is not None:
            continue
        conn.executemany(
            "INSERT INTO entity_locks (entity_id, critical_section_id, instance_id) VALUES (?, ?, ?)",
            [(entity_id, section, instance_id) for entity_id in lock_set],
        )
        conn.execute("DELETE FROM lock_requests WHERE request_id = ?", (request_id,))
        reply = json.dumps({"result": json.dumps(LOCK_GRANTED_RESULT)})
        event = event_raised(format_ts(from_us(now_us)), section, reply)
        _insert_messages(conn, [NewMessage(instance_id, execution_id, "event", event, now_us)])
        granted.append(instance_id)
    return granted


def entity_lock_holders(conn: sqlite3.Connection) -> dict[str, str]:
    """Entity id -> the instance whose critical section holds it, for every locked entity."""
    return {row[0]: row[1] for row in conn.execute("SELECT entity_id, instance_id FROM entity_locks")}


def release_orphaned_locks(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """Release locks whose orchestration no longer runs (ended, or purged), then grant what waits; returns the
    entities released and the instances granted a lock."""
    placeholders = ", ".join("?" for _ in ACTIVE_STATUSES)
    orphaned = [
        row[0]
        for row in conn.execute(
            "SELECT entity_id FROM entity_locks WHERE instance_id NOT IN "
            f"(SELECT instance_id FROM instances WHERE status IN ({placeholders}))",
            ACTIVE_STATUSES,
        )
    ]
    conn.executemany("DELETE FROM entity_locks WHERE entity_id = ?", [(e,) for e in orphaned])
    granted = grant_waiting_locks(conn, to_us(datetime.now(UTC))) if orphaned else []
    return orphaned, granted


def append_history(conn: sqlite3.Connection, instance_id: str, events: list[Event]) -> None:
    """Append one chunk (an episode or a management event) to the instance's history."""
    conn.execute(
        "INSERT INTO history (instance_id, chunk, events) "
        "SELECT ?, COALESCE(MAX(chunk) + 1, 0), ? FROM history WHERE instance_id = ?",
        (instance_id, json.dumps(events, separators=(",", ":")), instance_id),
    )


def history_bytes(conn: sqlite3.Connection, instance_id: str) -> int:
    """The size of the instance's stored history (its JSON text, in bytes)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(length(CAST(events AS BLOB))), 0) FROM history WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    return int(row[0])


def load_history(conn: sqlite3.Connection, instance_id: str) -> list[Event]:
    """The stored history of the instance's current execution, in order."""
    events: list[Event] = []
    for (chunk,) in conn.execute("SELECT events FROM history WHERE instance_id = ? ORDER BY chunk", (instance_id,)):
        events.extend(json.loads(chunk))
    return events


def read_inbox(conn: sqlite3.Connection, instance_id: str, now_us: int, limit: int = -1) -> list[InboxMessage]:
    """The instance's visible messages in arrival order (the first `limit` of them; all when it is -1)."""
    return [
        InboxMessage(row[0], instance_id, row[1], row[2], json.loads(row[3]), row[4])
        for row in conn.execute(
            "SELECT msg_id, execution_id, kind, payload, visible_us FROM inbox "
            "WHERE instance_id = ? AND visible_us <= ? ORDER BY msg_id LIMIT ?",
            (instance_id, now_us, limit),
        )
    ]


def raise_event_message(conn: sqlite3.Connection, message: NewMessage) -> str | None:
    """Queue an external event if the instance exists and has not ended; returns its status."""
    row = conn.execute("SELECT status FROM instances WHERE instance_id = ?", (message.instance_id,)).fetchone()
    if row is None:
        return None
    if row[0] in ACTIVE_STATUSES:
        _insert_messages(conn, [message])
    return str(row[0])


def complete_work_item(conn: sqlite3.Connection, work_id: int, message: NewMessage) -> bool:
    """Delete a finished work item and queue its completion; False if the item was gone already."""
    deleted = conn.execute("DELETE FROM work_items WHERE work_id = ?", (work_id,)).rowcount
    if not deleted:
        return False
    _insert_messages(conn, [message])
    return True


def max_work_id(conn: sqlite3.Connection) -> int:
    """The highest work item id ever stored (ids are handed out by the engine)."""
    row = conn.execute("SELECT MAX(work_id) FROM work_items").fetchone()
    return int(row[0] or 0)


def all_work_items(conn: sqlite3.Connection) -> list[WorkItem]:
    """Every stored work item (on start, all of them are (re)run)."""
    return [
        WorkItem(*row)
        for row in conn.execute(
            "SELECT work_id, instance_id, execution_id, task_id, name, input FROM work_items ORDER BY work_id"
        )
    ]


def inbox_wakeups(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(instance id, earliest visible time) of every instance with messages."""
    return [
        (row[0], int(row[1]))
        for row in conn.execute("SELECT instance_id, MIN(visible_us) FROM inbox GROUP BY instance_id")
    ]


def future_timers(conn: sqlite3.Connection, now_us: int) -> list[tuple[str, int]]:
    """(instance id, visible time) of messages not visible yet (durable timers)."""
    return [
        (row[0], int(row[1]))
        for row in conn.execute("SELECT instance_id, visible_us FROM inbox WHERE visible_us > ?", (now_us,))
    ]


# ------------------------------------------------------------------------------------------------
# Queries and purge


def read_clock_offset(conn: sqlite3.Connection) -> int:
    """The virtual-time offset of the task hub's clock in microseconds (0 when never advanced)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'clock_offset_us'").fetchone()
    return int(row[0]) if row else 0


def write_clock_offset(conn: sqlite3.Connection, offset_us: int) -> None:
    """Persist the virtual-time offset (meta key clock_offset_us)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('clock_offset_us', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(offset_us),),
    )


def encode_token(created_us: int, instance_id: str) -> str:
    """Opaque continuation token for keyset paging."""
    raw = json.dumps([created_us, instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """Inverse of encode_token; InvalidRequestError for anything else."""
    try:
        padded = token + "=" * (-len(token) % 4)
        created_us, instance_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(created_us), str(instance_id)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(f"invalid continuation token {token!r}") from exc


def _filters(
    query: InstanceQuery | None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    statuses: frozenset[RuntimeStatus] | None = None,
) -> tuple[list[str], list[SqlValue]]:
    where: list[str] = []
    params: list[SqlValue] = []
    if query is not None:
        created_from, created_to, statuses = query.created_from, query.created_to, query.statuses
        if query.instance_id_prefix:
            prefix = query.instance_id_prefix
            where.append("instance_id >= ? AND instance_id < ?")
            params.extend([prefix, prefix + "\U0010ffff"])
        if query.name:
            where.append("name = ?")
            params.append(query.name)
        if not query.include_sub_orchestrations:
            where.append("parent_instance_id IS NULL")
        if query.updated_from is not None:
            where.append("updated_us >= ?")
            params.append(to_us(query.updated_from))
    if created_from is not None:
        where.append("created_us >= ?")
        params.append(to_us(created_from))
    if created_to is not None:
        where.append("created_us <= ?")
        params.append(to_us(created_to))
    if statuses:
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(sorted(s.value for s in statuses))
    return where, params


def query_instances(conn: sqlite3.Connection, query: InstanceQuery) -> InstancePage:
    """One page of instances ordered by (created, id), with a keyset continuation token."""
    where, params = _filters(query)
    if query.continuation_token:
        created_us, instance_id = decode_token(query.continuation_token)
        where.append(f"(created_us, instance_id) {'<' if query.newest_first else '>'} (?, ?)")
        params.extend([created_us, instance_id])
    order = "DESC" if query.newest_first else "ASC"
    size = max(1, min(int(query.page_size), 10_000))
    sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # "Changed since T" asks for few rows: the unary + keeps SQLite from walking the created-time index
    # over the whole table for the ORDER BY, so it searches ix_instances_updated and sorts the few it finds.
    sort = "+" if query.updated_from is not None else ""
    sql += f" ORDER BY {sort}created_us {order}, {sort}instance_id {order} LIMIT ?"
    rows: list[_InstanceColumns] = conn.execute(sql, [*params, size + 1]).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    records = [_row_to_instance(row).record for row in rows]
    token = encode_token(rows[-1][7], rows[-1][0]) if more and rows else None
    return InstancePage(records, token)


def purge_instance(conn: sqlite3.Connection, instance_id: str) -> int:
    """Delete an ended instance with its history and messages; returns 0 or 1."""
    row = conn.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    if row is None or row[0] in ACTIVE_STATUSES:
        return 0
    _clear_instance(conn, instance_id)
    conn.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
    return 1


def purge_instances(
    conn: sqlite3.Connection,
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: frozenset[RuntimeStatus] | None,
) -> list[str]:
    """Delete every ended instance matching the filters; returns their ids."""
    ended = frozenset(s for s in RuntimeStatus if s.value not in ACTIVE_STATUSES)
    wanted = ended & statuses if statuses else ended
    if not wanted:
        return []
    where, params = _filters(None, created_from, created_to, wanted)
    ids = [row[0] for row in conn.execute(f"SELECT instance_id FROM instances WHERE {' AND '.join(where)}", params)]
    for instance_id in ids:
        _clear_instance(conn, instance_id)
    conn.executemany("DELETE FROM instances WHERE instance_id = ?", [(i,) for i in ids])
    return ids


# ------------------------------------------------------------------------------------------------
# Entities


def insert_entity_messages(conn: sqlite3.Connection, messages: list[EntityMessage]) -> None:
    """Queue entity operations (in order)."""
    if messages:
        conn.executemany(
            "INSERT INTO entity_inbox (entity_id, operation, input, request_id, reply_instance_id, "
            "reply_execution_id, created_us, visible_us) VALUES (?, ?, ?, ?, ?, ?, strftime('%s', 'now') * 1000000, ?)",
            [
                (
                    m.entity_id,
                    m.operation,
                    m.input,
                    m.request_id,
                    m.reply_instance_id,
                    m.reply_execution_id,
                    m.visible_us,
                )
                for m in messages
            ],
        )


def read_entity_inbox(conn: sqlite3.Connection, entity_id: str, limit: int, now_us: int) -> list[EntityMessage]:
    """The entity's next operations that are due, in arrival order."""
    return [
        EntityMessage(entity_id, row[1], row[2], row[3], row[4], row[5], row[0])
        for row in conn.execute(
            "SELECT msg_id, operation, input, request_id, reply_instance_id, reply_execution_id FROM entity_inbox "
            "WHERE entity_id = ? AND (visible_us IS NULL OR visible_us <= ?) ORDER BY msg_id LIMIT ?",
            (entity_id, now_us, limit),
        )
    ]


def entity_wakeups(conn: sqlite3.Connection, now_us: int) -> list[tuple[str, int]]:
    """(entity id, when) of each entity's next scheduled operation that is not due yet."""
    return conn.execute(
        "SELECT entity_id, MIN(visible_us) FROM entity_inbox WHERE visible_us > ? GROUP BY entity_id", (now_us,)
    ).fetchall()


def entities_with_messages(conn: sqlite3.Connection) -> list[str]:
    """Ids of entities with queued operations."""
    return [row[0] for row in conn.execute("SELECT DISTINCT entity_id FROM entity_inbox")]


#: A row of the entity columns (entity_id, name, entity_key, state, last_op_us) as SQLite returns it.
_EntityColumns = tuple[str, str, str, str | None, int | None, str | None]
#: The entity columns, the last one the orchestration whose critical section holds the entity (DTFx's
#: EntityMetadata.LockedBy is the holder's instance id).
_ENTITY_COLUMNS = (
    "entity_id, name, entity_key, state, last_op_us, "
    "(SELECT instance_id FROM entity_locks WHERE entity_locks.entity_id = entities.entity_id)"
)


def _row_to_entity(row: _EntityColumns) -> EntityRecord:
    return EntityRecord(
        entity_id=row[0],
        name=row[1],
        key=row[2],
        state=row[3],
        last_operation_time=from_us(row[4]) if row[4] is not None else None,
        locked_by=row[5],
    )


def get_entity(conn: sqlite3.Connection, entity_id: str) -> EntityRecord | None:
    """The entity's row (state None when it does not exist), or None."""
    row = conn.execute(f"SELECT {_ENTITY_COLUMNS} FROM entities WHERE entity_id = ?", (entity_id,)).fetchone()
    return _row_to_entity(row) if row else None


def list_entities(conn: sqlite3.Connection, name: str | None, limit: int) -> list[EntityRecord]:
    """Existing entities (with state), optionally of one name."""
    sql = f"SELECT {_ENTITY_COLUMNS} FROM entities WHERE state IS NOT NULL"
    params: list[SqlValue] = []
    if name:
        sql += " AND name = ?"
        params.append(name.lower())
    sql += " ORDER BY name, entity_key LIMIT ?"
    params.append(limit)
    return [_row_to_entity(row) for row in conn.execute(sql, params)]


def commit_entity_batch(
    conn: sqlite3.Connection,
    entity_id: str,
    name: str,
    key: str,
    state: str | None,
    last_op_us: int,
    consumed: list[int],
    replies: list[NewMessage],
    signals: list[EntityMessage] | None = None,
    starts: list[tuple[NewInstance, NewMessage]] | None = None,
) -> list[str]:
    """Store an entity's new state, drop the operations it ran, queue the replies and the signals it sent, and
    create the orchestrations it started, atomically; returns the ids of the instances started (an id whose
    instance is still active is not started again)."""
    conn.execute(
        "INSERT INTO entities (entity_id, name, entity_key, state, last_op_us) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (entity_id) DO UPDATE SET state = excluded.state, last_op_us = excluded.last_op_us",
        (entity_id, name, key, state, last_op_us),
    )
    conn.executemany("DELETE FROM entity_inbox WHERE msg_id = ?", [(m,) for m in consumed])
    _insert_messages(conn, replies)
    insert_entity_messages(conn, signals or [])
    started: list[str] = []
    for new, start in starts or []:
        row = conn.execute("SELECT status FROM instances WHERE instance_id = ?", (new.instance_id,)).fetchone()
        if row and row[0] in ACTIVE_STATUSES:
            continue
        if row:
            _clear_instance(conn, new.instance_id)
        _insert_instance(conn, new)
        _insert_messages(conn, [start])
        started.append(new.instance_id)
    return started
