"""Blob trigger receipts: which blob versions (blob name + ETag) each function has seen, tried and finished.

The Functions host keeps these as blobs in the `azure-webjobs-hosts` container
(`blobreceipts/{hostId}/{functionId}/{etag}/{container}/{blob}`, azure-sdk-for-net
Microsoft.Azure.WebJobs.Extensions.Storage.Blobs BlobReceiptManager) and hands each new version to the
function through a queue (`azure-webjobs-blobtrigger-{hostId}`) whose dequeue count drives retries and
the poison queue. devhost keeps the same facts in one SQLite file in its data directory instead
(DATA_DIR/blobtriggers.sqlite), one row per function and blob version:

- a version is recorded and counted as tried in local transactions that commit before the function
  runs, and marked done in one right after it returns, so a kill -9 can repeat at most the invocations
  that were running, never lose a version or finish one twice after it was recorded as done (the host's
  receipt, queue message and delete are three storage calls with windows between them);
- the data directory is owned by one host at a time (its task hub lock), which is what the host's
  receipt leases are for;
- recording the 10,000 blobs of a first scan is one transaction, not 40,000 storage calls.

What the host would show differently: deleting DATA_DIR makes every blob fire again, as deleting the
host's receipts (or changing its host id) does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from devhost.errors import StoreCorruptError

T = TypeVar("T")

DB_NAME = "blobtriggers.sqlite"
#: PRAGMA application_id of our file ("DHBT"), so that another SQLite file is refused, never written.
APPLICATION_ID = 0x44484254
SCHEMA_VERSION = 1

PENDING = "pending"
DONE = "done"
POISONED = "poisoned"
#: The blob was deleted or replaced before its function ran; its newer version has a receipt of its own.
GONE = "gone"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    function      TEXT NOT NULL,
    account       TEXT NOT NULL,
    container     TEXT NOT NULL,
    blob          TEXT NOT NULL,
    etag          TEXT NOT NULL,
    blob_type     TEXT NOT NULL,
    status        TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    detected_at   TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (function, account, container, blob, etag)
);
CREATE INDEX IF NOT EXISTS receipts_by_status ON receipts (function, account, container, status);
"""


@dataclass(frozen=True)
class BlobVersion:
    """One version of a blob a function is triggered by."""

    container: str
    blob: str
    etag: str
    #: "BlockBlob", "AppendBlob" or "PageBlob", as the host's poison message spells it.
    blob_type: str


@dataclass(frozen=True)
class Receipt:
    """A recorded blob version and how far its function got."""

    version: BlobVersion
    status: str
    dequeue_count: int


@dataclass(frozen=True)
class TriggerCounts:
    """What the dashboard shows for one blob trigger."""

    blobs_seen: int
    versions: int
    done: int
    pending: int
    poisoned: int


@dataclass(frozen=True)
class Scope:
    """The receipts of one function on one container of one storage account."""

    function: str
    account: str
    container: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ReceiptStore:
    """The receipts file; every call runs on the store's own thread, so the event loop never waits on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-receipts")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def open(cls, data_dir: Path) -> ReceiptStore:
        """Open (or create) DATA_DIR/blobtriggers.sqlite; StoreCorruptError when it is not ours."""
        store = cls(data_dir / DB_NAME)
        try:
            store._open()
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    def _open(self) -> None:
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb") as file:
                if file.read(16) != b"SQLite format 3\x00":
                    raise StoreCorruptError(
                        f"{self.path} is not a devhost blob trigger receipts file; move it away (devhost never "
                        "overwrites it) and start again"
                    )
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if (application_id, version) != (APPLICATION_ID, SCHEMA_VERSION) and tables:
                raise StoreCorruptError(
                    f"{self.path} is not a devhost blob trigger receipts file of schema {SCHEMA_VERSION} "
                    f"(application_id {application_id:#x}, version {version}); move it away and start again"
                )
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives process crashes (kill -9); only a power loss may drop the last commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreCorruptError(f"{self.path} cannot be used as the blob trigger receipts file: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Close the file and stop the store's thread."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the blob receipts store is closed")
        return self._conn

    async def latest_etags(self, scope: Scope) -> dict[str, str]:
        """The newest recorded ETag of every blob of the scope (what a scan compares the listing with)."""

        def read() -> dict[str, str]:
            rows = self._db().execute(
                "SELECT blob, etag FROM receipts WHERE function = ? AND account = ? AND container = ? ORDER BY rowid",
                (scope.function, scope.account, scope.container),
            )
            return dict(rows.fetchall())

        return await self._run(read)

    async def unfinished(self, scope: Scope) -> list[Receipt]:
        """Versions recorded but not finished (pending after a restart or a crash), oldest first."""

        def read() -> list[Receipt]:
            rows = self._db().execute(
                "SELECT container, blob, etag, blob_type, status, dequeue_count FROM receipts "
                "WHERE function = ? AND account = ? AND container = ? AND status = ? ORDER BY rowid",
                (scope.function, scope.account, scope.container, PENDING),
            )
            return [Receipt(BlobVersion(c, b, e, t), s, n) for c, b, e, t, s, n in rows.fetchall()]

        return await self._run(read)

    async def record(self, scope: Scope, versions: Iterable[BlobVersion]) -> list[BlobVersion]:
        """Record new versions as pending, in one transaction; returns those not recorded before."""
        items = list(versions)

        def write() -> list[BlobVersion]:
            db = self._db()
            added: list[BlobVersion] = []
            now = _now()
            with _transaction(db):
                for version in items:
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO receipts (function, account, container, blob, etag, blob_type, status, "
                        "dequeue_count, detected_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                        (
                            scope.function,
                            scope.account,
                            scope.container,
                            version.blob,
                            version.etag,
                            version.blob_type,
                            PENDING,
                            now,
                            now,
                        ),
                    )
                    if cursor.rowcount:
                        added.append(version)
            return added

        return await self._run(write) if items else []

    async def begin_attempt(self, scope: Scope, version: BlobVersion) -> int:
        """Count one more try of a version (committed before the function runs); returns the new count."""

        def write() -> int:
            db = self._db()
            with _transaction(db):
                db.execute(
                    "UPDATE receipts SET dequeue_count = dequeue_count + 1, updated_at = ? "
                    "WHERE function = ? AND account = ? AND container = ? AND blob = ? AND etag = ?",
                    (_now(), *_key(scope, version)),
                )
                row = db.execute(
                    "SELECT dequeue_count FROM receipts "
                    "WHERE function = ? AND account = ? AND container = ? AND blob = ? AND etag = ?",
                    _key(scope, version),
                ).fetchone()
            return int(row[0]) if row else 0

        return await self._run(write)

    async def finish(self, scope: Scope, version: BlobVersion, status: str) -> None:
        """Mark a version done, poisoned or gone."""

        def write() -> None:
            db = self._db()
            with _transaction(db):
                db.execute(
                    "UPDATE receipts SET status = ?, updated_at = ? "
                    "WHERE function = ? AND account = ? AND container = ? AND blob = ? AND etag = ?",
                    (status, _now(), *_key(scope, version)),
                )

        await self._run(write)

    async def receipts(self, scope: Scope) -> list[Receipt]:
        """Every receipt of the scope, oldest first (tests and drills read it)."""

        def read() -> list[Receipt]:
            rows = self._db().execute(
                "SELECT container, blob, etag, blob_type, status, dequeue_count FROM receipts "
                "WHERE function = ? AND account = ? AND container = ? ORDER BY rowid",
                (scope.function, scope.account, scope.container),
            )
            return [Receipt(BlobVersion(c, b, e, t), s, n) for c, b, e, t, s, n in rows.fetchall()]

        return await self._run(read)

    async def counts(self, scope: Scope) -> TriggerCounts:
        """Blobs seen, versions recorded and how many are done, pending and poisoned."""

        def read() -> TriggerCounts:
            db = self._db()
            where = "WHERE function = ? AND account = ? AND container = ?"
            args = (scope.function, scope.account, scope.container)
            blobs = db.execute(f"SELECT count(DISTINCT blob) FROM receipts {where}", args).fetchone()[0]
            by_status = dict(db.execute(f"SELECT status, count(*) FROM receipts {where} GROUP BY status", args))
            return TriggerCounts(
                blobs_seen=int(blobs),
                versions=int(sum(by_status.values())),
                done=int(by_status.get(DONE, 0)),
                pending=int(by_status.get(PENDING, 0)),
                poisoned=int(by_status.get(POISONED, 0)),
            )

        return await self._run(read)


def _key(scope: Scope, version: BlobVersion) -> tuple[str, str, str, str, str]:
    return (scope.function, scope.account, scope.container, version.blob, version.etag)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
