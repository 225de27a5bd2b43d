"""Collected results and the collector's watermark in one Azure Storage table (Azurite locally).

Partitions: `result` holds one row per recorded run, keyed by instance id; `resultchunk` holds the
pieces of outputs too large for one table property (a fan-out of 10,000 cities yields about 1 MB);
`collector` holds the watermark row. A result row is inserted with a conditional create *after* its
chunks are written, so the row's existence is the single "recorded" marker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from hello_cities.collector import CompletedRun, Watermark

RESULT_PARTITION = "result"
CHUNK_PARTITION = "resultchunk"
COLLECTOR_PARTITION = "collector"
WATERMARK_ROW = "watermark"
#: Table string properties hold at most 32K UTF-16 units; outputs are stored as ASCII-only JSON.
CHUNK_CHARACTERS = 30_000
#: A table transaction holds at most 100 operations.
TRANSACTION_SIZE = 100
#: Output characters per transaction of result rows, well inside the 4 MiB request limit.
TRANSACTION_CHARACTERS = 1_000_000
#: Concurrent single-row inserts (outputs split into chunks, and transactions that hit an existing row).
INSERT_CONCURRENCY = 8
#: Characters not allowed in table keys, plus the escape and chunk-separator characters themselves.
_KEY_UNSAFE = frozenset("/\\#?%|")


def row_key_for(instance_id: str) -> str:
    """An instance id as a table RowKey: unsafe characters percent-escaped (injective, so keys stay unique)."""
    return "".join(
        f"%{ord(ch):02X}" if ch in _KEY_UNSAFE or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F else ch
        for ch in instance_id
    )


def _chunk_key(row_key: str, index: int) -> str:
    return f"{row_key}|{index:05d}"


def _result_row(run: CompletedRun) -> tuple[dict[str, Any], list[str]]:
    """The run's result row and, when its output is too large for the row, the output's chunks."""
    output_text = json.dumps(run.output, ensure_ascii=True, separators=(",", ":"))
    chunks = [output_text[i : i + CHUNK_CHARACTERS] for i in range(0, len(output_text), CHUNK_CHARACTERS)]
    entity: dict[str, Any] = {
        "PartitionKey": RESULT_PARTITION,
        "RowKey": row_key_for(run.instance_id),
        "instanceId": run.instance_id,
        "orchestration": run.orchestration,
        "completedTime": run.completed_time,
        "createdTime": run.created_time,
        "recordedTime": datetime.now(UTC),
    }
    if len(chunks) <= 1:
        entity["output"] = output_text
        entity["outputChunks"] = 0
        return entity, []
    entity["outputChunks"] = len(chunks)
    return entity, chunks


def _transaction_groups(rows: Sequence[tuple[int, dict[str, Any]]]) -> list[list[int]]:
    """Indexes of single-row results grouped within a transaction's operation and size limits."""
    groups: list[list[int]] = []
    group: list[int] = []
    characters = 0
    for index, row in rows:
        size = len(row["output"])
        if group and (len(group) == TRANSACTION_SIZE or characters + size > TRANSACTION_CHARACTERS):
            groups.append(group)
            group, characters = [], 0
        group.append(index)
        characters += size
    if group:
        groups.append(group)
    return groups


@dataclass(frozen=True)
class StoredResult:
    """One recorded run as the results API shows it."""

    instance_id: str
    orchestration: str
    output: Any
    completed_time: datetime

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object of the results API."""
        return {
            "instanceId": self.instance_id,
            "orchestration": self.orchestration,
            "output": self.output,
            "completedTime": self.completed_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


@dataclass(frozen=True)
class ResultsPage:
    """One page of results and the token for the next one (None when there is no more)."""

    results: list[StoredResult]
    continuation_token: dict[str, str] | None


class TableResultStore:
    """The collector's ResultSink and the results API's reader, over one open TableClient."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def ensure_table(self) -> None:
        """Create the table if it does not exist yet."""
        with suppress(ResourceExistsError):
            await self._table.create_table()

    async def load_watermark(self) -> Watermark | None:
        """The stored watermark, or None before the first pass."""
        try:
            entity = await self._table.get_entity(COLLECTOR_PARTITION, WATERMARK_ROW)
        except ResourceNotFoundError:
            return None
        return Watermark(value=entity["watermark"], etag=entity.metadata.get("etag"))

    async def save_watermark(self, previous: Watermark | None, value: datetime) -> bool:
        """Store the watermark unless another pass changed it since `previous` was read (then keep theirs)."""
        entity = {
            "PartitionKey": COLLECTOR_PARTITION,
            "RowKey": WATERMARK_ROW,
            "watermark": value,
            "updatedTime": datetime.now(UTC),
        }
        try:
            if previous is None:
                await self._table.create_entity(entity)
            else:
                await self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=previous.etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError):
            # Another pass stored its watermark meanwhile; it satisfies the same invariant, so keep it.
            return False
        return True

    async def record(self, run: CompletedRun) -> bool:
        """Insert the run's row unless it exists; True if this call recorded it."""
        return await self._insert(*_result_row(run))

    async def record_many(self, runs: Sequence[CompletedRun]) -> list[bool]:
        """Record each run unless it exists; per run, True if this call recorded it.

        Rows whose output fits in the row go in table transactions: one request per 100 rows instead
        of 100. A transaction is all or nothing, so when one of its rows already exists (a concurrent
        or repeated pass) it fails whole and its rows are inserted one by one: each run is still
        recorded exactly once.
        """
        rows = [_result_row(run) for run in runs]
        outcomes = [False] * len(rows)
        one_by_one = [index for index, (_, chunks) in enumerate(rows) if chunks]
        for group in _transaction_groups([(index, row) for index, (row, chunks) in enumerate(rows) if not chunks]):
            try:
                await self._table.submit_transaction([("create", rows[index][0]) for index in group])
            except TableTransactionError:
                one_by_one.extend(group)
            else:
                for index in group:
                    outcomes[index] = True
        gate = asyncio.Semaphore(INSERT_CONCURRENCY)

        async def insert(index: int) -> None:
            async with gate:
                outcomes[index] = await self._insert(*rows[index])

        await asyncio.gather(*(insert(index) for index in one_by_one))
        return outcomes

    async def _insert(self, entity: dict[str, Any], chunks: list[str]) -> bool:
        if chunks:
            await self._write_chunks(entity["RowKey"], chunks)
        try:
            await self._table.create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    async def _write_chunks(self, row_key: str, chunks: list[str]) -> None:
        # Upserts: rewriting the same chunks on a repeated pass is harmless (the content is identical).
        operations = [
            ("upsert", {"PartitionKey": CHUNK_PARTITION, "RowKey": _chunk_key(row_key, i), "text": chunk})
            for i, chunk in enumerate(chunks)
        ]
        for start in range(0, len(operations), TRANSACTION_SIZE):
            await self._table.submit_transaction(operations[start : start + TRANSACTION_SIZE])

    async def _output_of(self, entity: dict[str, Any]) -> Any:
        count = int(entity.get("outputChunks") or 0)
        if count == 0:
            return json.loads(entity["output"])
        row_key = entity["RowKey"]
        pieces = [
            chunk
            async for chunk in self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": CHUNK_PARTITION, "low": f"{row_key}|", "high": f"{row_key}}}"},
                select=["RowKey", "text"],
            )
        ]
        pieces.sort(key=lambda chunk: chunk["RowKey"])
        if len(pieces) != count:
            raise RuntimeError(f"result {entity['instanceId']!r} has {len(pieces)} of its {count} output chunks")
        return json.loads("".join(piece["text"] for piece in pieces))

    async def query_results(
        self,
        top: int,
        orchestration: str | None = None,
        since: datetime | None = None,
        continuation_token: dict[str, str] | None = None,
    ) -> ResultsPage:
        """Up to `top` results (by instance id), filtered by orchestration and completion time."""
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": RESULT_PARTITION}
        if orchestration is not None:
            clauses.append("orchestration eq @orchestration")
            parameters["orchestration"] = orchestration
        if since is not None:
            clauses.append("completedTime ge @since")
            parameters["since"] = since
        query_filter = " and ".join(clauses)
        entities: list[dict[str, Any]] = []
        token = continuation_token
        # The service may return short (even empty) pages with a token; keep asking until `top` or the end.
        while len(entities) < top:
            pages = self._table.query_entities(
                query_filter, parameters=parameters, results_per_page=top - len(entities)
            ).by_page(continuation_token=token)  # type: ignore[arg-type]  # tables tokens are dicts
            page = await pages.__anext__()
            entities.extend([entity async for entity in page])
            token = pages.continuation_token  # type: ignore[attr-defined]
            if not token:
                break
        results = [
            StoredResult(
                instance_id=entity["instanceId"],
                orchestration=entity["orchestration"],
                output=await self._output_of(entity),
                completed_time=entity["completedTime"],
            )
            for entity in entities
        ]
        return ResultsPage(results, token or None)


@asynccontextmanager
async def open_result_store(connection_string: str, table_name: str) -> AsyncIterator[TableResultStore]:
    """A TableResultStore on a fresh client (closed on exit); creates the table if missing."""
    async with TableClient.from_connection_string(connection_string, table_name=table_name) as table:
        store = TableResultStore(table)
        await store.ensure_table()
        yield store
