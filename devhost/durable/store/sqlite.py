"""The task hub's SQLite file: ownership lock, validation, one writer thread with group commit, and
read connections of their own.

Writes are functions of a connection queued to the writer thread. The writer takes every pending
write, runs them in ONE ``BEGIN IMMEDIATE`` transaction and commits once: thousands of small writes
cost a handful of WAL commits. If one write raises, the transaction is rolled back and the writes
are redone one transaction each, so only the failing one fails. Reads run on a small thread pool,
each thread with its own connection (WAL lets them proceed while the writer commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from devhost.durable.store import schema
from devhost.errors import StoreCorruptError, StoreError, StoreLockedError

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_NAME = "taskhub.sqlite"
LOCK_NAME = "taskhub.lock"
_SQLITE_HEADER = b"SQLite format 3\x00"
#: Upper bound of writes per transaction (keeps one commit's latency bounded).
MAX_GROUP = 2000


@dataclass
class _Write(Generic[T]):
    """A queued write: fn runs in the writer's transaction; future (on loop) gets its result."""

    fn: Callable[[sqlite3.Connection], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop


#: A batch of writes; each has a result type of its own, hence Any.
_Batch = list[_Write[Any]]
#: What a write came to: (its result, None), or (None, the error its caller gets).
_Outcome = tuple[object, BaseException | None]


class _Stop:
    """Queued by close(): the writer thread commits what is before it and ends."""


_STOP = _Stop()


class _WriteFailed(Exception):
    """A queued write raised; carries its error for the caller."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    if read_only:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives process crashes (kill -9); only power loss may drop the tail.
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32000")
    return conn


def _acquire_lock(data_dir: Path) -> int:
    lock_path = data_dir / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            owner = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        finally:
            os.close(fd)
        raise StoreLockedError(
            f"the task hub in {data_dir} is in use by another host process (pid {owner}); "
            "stop it or pass another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _validate_existing(path: Path) -> None:
    """Refuse files that are not a task hub of ours, without writing a byte to them."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        raise StoreCorruptError(f"{path} is not a SQLite database; it was left untouched")
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            version = schema.read_version(conn) if app_id == schema.APPLICATION_ID else 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreCorruptError(f"{path} is damaged ({exc}); it was left untouched") from exc
    if app_id != schema.APPLICATION_ID and (app_id != 0 or tables):
        raise StoreCorruptError(
            f"{path} is a SQLite database that is not a devhost task hub (application_id={app_id}); "
            "it was left untouched"
        )
    if version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, newer than this host supports ({schema.SCHEMA_VERSION}); it was "
            "left untouched: run the newer devhost that wrote it, or use another --data-dir"
        )


class SqliteStore:
    """A task hub file owned by this process until close()."""

    def __init__(self, path: Path, lock_fd: int, writer_conn: sqlite3.Connection) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd
        self._writer_conn = writer_conn
        self._queue: queue.SimpleQueue[_Write[Any] | _Stop] = queue.SimpleQueue()
        self._closed = False
        self._read_local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_conns_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="taskhub-read")
        self._writer = threading.Thread(target=self._writer_loop, name="taskhub-writer", daemon=True)
        #: Transactions committed (for tests and benchmarks: group commit keeps this small).
        self.transactions = 0
        self._writer.start()

    @classmethod
    def open(cls, data_dir: Path, task_hub: str) -> SqliteStore:
        """Lock data_dir, validate or create data_dir/taskhub.sqlite, and migrate it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _acquire_lock(data_dir)
        path = data_dir / DB_NAME
        try:
            _validate_existing(path)
            conn = _connect(path)
            try:
                schema.migrate(conn, task_hub)
            except BaseException:
                conn.close()
                raise
        except sqlite3.DatabaseError as exc:
            os.close(lock_fd)
            raise StoreCorruptError(f"{path} cannot be used as a task hub: {exc}") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(path, lock_fd, conn)

    # ---------------------------------------------------------------- writes
    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue a write; the future resolves once its transaction has committed."""
        if self._closed:
            raise StoreError("the task hub store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Write(fn, future, loop))
        return future

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in the writer's next transaction and return its result (or raise its error)."""
        return await self.submit(fn)

    def _writer_loop(self) -> None:
        conn = self._writer_conn
        stop = False
        while not stop:
            first = self._queue.get()
            if isinstance(first, _Stop):
                break
            batch: _Batch = [first]
            while len(batch) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stop = True
                    break
                batch.append(item)
            self._run_batch(conn, batch)
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        try:
            outcomes = self._transaction(conn, batch)
        except _WriteFailed:
            # One write refused (e.g. an id already in use): redo each write in its own transaction so
            # the others still commit. Rare, so the common path pays no per-write savepoints.
            outcomes = []
            for write in batch:
                try:
                    outcomes.extend(self._transaction(conn, [write]))
                except _WriteFailed as failed:
                    outcomes.append((None, failed.error))
                except Exception as exc:
                    outcomes.append((None, StoreError(f"task hub write failed: {exc}")))
        except Exception as exc:
            log.exception("task hub transaction failed")
            failure = StoreError(f"task hub write failed: {exc}")
            outcomes = [(None, failure)] * len(batch)
        loop = batch[0].loop
        # RuntimeError: the loop is gone (shutdown); nobody waits for these results anymore.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, batch, outcomes)

    def _transaction(self, conn: sqlite3.Connection, batch: _Batch) -> list[_Outcome]:
        """Run writes in one transaction; _WriteFailed (after rollback) if one of them raised."""
        outcomes: list[_Outcome] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                try:
                    outcomes.append((write.fn(conn), None))
                except Exception as exc:
                    raise _WriteFailed(exc) from exc
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.transactions += 1
        return outcomes

    # ---------------------------------------------------------------- reads
    def _read_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._read_local, "conn", None)
        if conn is None:
            conn = _connect(self.path, read_only=True)
            self._read_local.conn = conn
            with self._read_conns_lock:
                self._read_conns.append(conn)
        return conn

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read in the calling thread on that thread's read connection."""
        return fn(self._read_conn())

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the reader pool (off the event loop)."""
        if self._closed:
            raise StoreError("the task hub store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Commit what is queued, stop the writer, close connections and release the lock."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        self._readers.shutdown(wait=True)
        with self._read_conns_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _resolve(batch: _Batch, outcomes: list[_Outcome]) -> None:
    for write, (value, error) in zip(batch, outcomes, strict=True):
        if write.future.done():
            continue
        if error is None:
            write.future.set_result(value)
        else:
            write.future.set_exception(error)
