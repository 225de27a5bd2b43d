"""Task hub schema: DDL, the schema version kept in the meta table, and forward migrations.

The file is marked with ``PRAGMA application_id`` so a SQLite file that is not ours is recognised
(and left alone) before anything is written to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: 'DvHt' as a 32-bit integer: marks a task hub file (PRAGMA application_id).
APPLICATION_ID = 0x44764874
SCHEMA_VERSION = 5

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per orchestration instance (its current execution). Times are UTC microseconds.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    completed_us INTEGER,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    failure_message TEXT,
    -- Host replay bookkeeping that history alone does not hold (retry groups), JSON.
    replay_state TEXT
);
-- Keyset paging over (created_us, instance_id), alone and under the usual filters.
CREATE INDEX ix_instances_created ON instances (created_us, instance_id);
CREATE INDEX ix_instances_status ON instances (status, created_us, instance_id);
CREATE INDEX ix_instances_name ON instances (name, created_us, instance_id);
CREATE INDEX ix_instances_top_level ON instances (created_us, instance_id) WHERE parent_instance_id IS NULL;
CREATE INDEX ix_instances_parent ON instances (parent_instance_id) WHERE parent_instance_id IS NOT NULL;

-- The current execution's history, one row per episode (a JSON array of protocol events).
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (instance_id, chunk)
) WITHOUT ROWID;

-- Messages for orchestrations: history events to deliver (completions, external events, timers
-- once visible_us has passed) and control messages (terminate, suspend, resume, rewind).
CREATE TABLE inbox (
    msg_id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    visible_us INTEGER NOT NULL
);
CREATE INDEX ix_inbox_instance ON inbox (instance_id, msg_id);

-- Activity work items; a row exists until its completion message is committed (at-least-once).
CREATE TABLE work_items (
    work_id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    created_us INTEGER NOT NULL
);
CREATE INDEX ix_work_items_instance ON work_items (instance_id);

CREATE TABLE entities (
    entity_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    state TEXT,
    last_op_us INTEGER
);
CREATE INDEX ix_entities_name ON entities (name, entity_key);

CREATE TABLE entity_inbox (
    msg_id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    input TEXT NOT NULL,
    request_id TEXT,
    reply_instance_id TEXT,
    reply_execution_id TEXT,
    created_us INTEGER NOT NULL
);
CREATE INDEX ix_entity_inbox_entity ON entity_inbox (entity_id, msg_id);
"""

# Version 2: durable timers (inbox rows not visible yet) are found at start without scanning the inbox.
# Idempotent, so a store whose version row was lowered by hand migrates again without harm.
_V2 = """
CREATE INDEX IF NOT EXISTS ix_inbox_visible ON inbox (visible_us);
"""

# Version 3: "what changed since T" (the dashboard's live updates) reads an index, not the whole table.
_V3 = """
CREATE INDEX IF NOT EXISTS ix_instances_updated ON instances (updated_us);
"""


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: an instance's tags (the string map a gRPC client starts it with), JSON text or NULL; and when a
    scheduled entity operation becomes due (UTC microseconds; NULL: at once). Each column is checked first, so a
    store whose version row was lowered by hand migrates again without harm."""
    if "tags" not in _columns(conn, "instances"):
        conn.execute("ALTER TABLE instances ADD COLUMN tags TEXT")
    if "visible_us" not in _columns(conn, "entity_inbox"):
        conn.execute("ALTER TABLE entity_inbox ADD COLUMN visible_us INTEGER")


# Version 5: entity critical sections (durabletask's lock_entities). entity_locks holds one row per locked entity
# (whose critical section, which orchestration); lock_requests queues the lock sets that wait, in arrival order.
# IF NOT EXISTS: a store whose version row was lowered by hand migrates again without harm.
_V5 = """
CREATE TABLE IF NOT EXISTS entity_locks (
    entity_id TEXT PRIMARY KEY,
    critical_section_id TEXT NOT NULL,
    instance_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_entity_locks_instance ON entity_locks (instance_id);

CREATE TABLE IF NOT EXISTS lock_requests (
    request_id INTEGER PRIMARY KEY,
    critical_section_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    -- The entity ids to lock, a JSON array in the order the orchestration sent them.
    lock_set TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_lock_requests_instance ON lock_requests (instance_id);
"""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


#: MIGRATIONS[n] upgrades a database at version n to n + 1 (inside the caller's transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: lambda conn: _run_script(conn, _V1),
    1: lambda conn: _run_script(conn, _V2),
    2: lambda conn: _run_script(conn, _V3),
    3: _v4,
    4: lambda conn: _run_script(conn, _V5),
}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the caller's transaction; run statement by statement instead.
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    for statement in code.split(";"):
        if statement.strip():
            conn.execute(statement)


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in meta (0 for a fresh database)."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, task_hub: str) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; returns the version found before."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = read_version(conn)
        version = found
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('task_hub', ?)", (task_hub,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
