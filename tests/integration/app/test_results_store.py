"""The results table on real Azurite: conditional inserts, large outputs, watermark guard, paging, filters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from hello_cities.collector import (
    PAGE_SIZE,
    CompletedRun,
    InstanceSnapshot,
    RecordedCache,
    Watermark,
    run_collection_pass,
)
from hello_cities.results_store import StoredResult, TableResultStore, open_result_store, row_key_for
from tests.support.azurite import Azurite

pytestmark = pytest.mark.azurite
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
async def store(azurite: Azurite) -> AsyncIterator[TableResultStore]:
    async with open_result_store(azurite.connection_string, f"results{uuid.uuid4().hex[:10]}") as opened:
        yield opened


async def all_results(store: TableResultStore) -> list[StoredResult]:
    """Every recorded result, following continuation tokens."""
    results: list[StoredResult] = []
    token = None
    while True:
        page = await store.query_results(top=1000, continuation_token=token)
        results += page.results
        token = page.continuation_token
        if token is None:
            return results


def run(instance_id: str, output: object, minutes: int = 0, orchestration: str = "chaining") -> CompletedRun:
    moment = T0 + timedelta(minutes=minutes)
    return CompletedRun(instance_id, orchestration, output, completed_time=moment, created_time=moment)


async def test_a_run_is_recorded_once_even_when_inserted_concurrently(store: TableResultStore) -> None:
    outcomes = await asyncio.gather(*(store.record(run("hello-r1", ["Hello Tokyo!"])) for _ in range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]
    page = await store.query_results(top=10)
    assert [r.to_json() for r in page.results] == [
        {
            "instanceId": "hello-r1",
            "orchestration": "chaining",
            "output": ["Hello Tokyo!"],
            "completedTime": "2024-05-01T10:00:00.000000Z",
        }
    ]
    assert page.continuation_token is None


async def test_record_many_inserts_in_transactions_and_records_each_run_once(store: TableResultStore) -> None:
    big = [f"Hello {'x' * 100} {n}!" for n in range(1_000)]  # over one row's limit: goes by chunks
    first = [run(f"batch-{n:03d}", [f"Hello {n}!"], minutes=n) for n in range(150)] + [run("big-one", big)]
    assert await store.record_many(first) == [True] * 151
    # A later pass sees some of the same runs again: their transaction fails whole on the existing rows,
    # and the one-by-one fallback records only the new ones.
    again = [*first[140:150], run("batch-new-1", ["Hello new!"]), run("big-one", big), run("batch-new-2", [])]
    assert await store.record_many(again) == [False] * 10 + [True, False, True]
    # Two passes racing over the same fresh runs: every run is recorded by exactly one of them.
    racing = [run(f"race-{n:02d}", [n]) for n in range(40)]
    a, b = await asyncio.gather(store.record_many(racing), store.record_many(racing))
    assert [x != y for x, y in zip(a, b, strict=True)] == [True] * 40
    results = await all_results(store)
    by_id = {r.instance_id: r.output for r in results}
    assert len(results) == len(by_id) == 151 + 2 + 40
    assert by_id["batch-007"] == ["Hello 7!"] and by_id["big-one"] == big and by_id["race-39"] == [39]


# azure-core's aiohttp transport hands aiohttp the table batch body that azure-data-tables builds from the
# chunk rows (over 1 MB here) as raw bytes, and aiohttp warns that so large a body should be a stream. Not ours
# to fix: submit_transaction takes entities; the SDK chooses how to send them.
@pytest.mark.filterwarnings(
    "ignore:Sending a large body directly with raw bytes might lock the event loop:ResourceWarning:aiohttp\\.payload"
)
async def test_ten_thousand_city_output_round_trips_through_chunks(store: TableResultStore) -> None:
    output = [f"Hello {'City-' + str(n) + 'x' * 90}!" for n in range(10_000)]  # about 1 MB of JSON
    assert await store.record(run("big", output, orchestration="fanout"))
    assert not await store.record(run("big", output, orchestration="fanout"))
    [result] = (await store.query_results(top=5)).results
    assert result.output == output


async def test_unusual_instance_ids_get_distinct_safe_keys(store: TableResultStore) -> None:
    ids = ["a/b", "a%2Fb", "a|b", "a?b#c", "tab\tid", "plain"]
    assert len({row_key_for(i) for i in ids}) == len(ids)
    for instance_id in ids:
        assert await store.record(run(instance_id, [instance_id]))
    page = await store.query_results(top=100)
    assert sorted(r.instance_id for r in page.results) == sorted(ids)
    assert all(r.output == [r.instance_id] for r in page.results)


async def test_watermark_update_is_guarded_by_its_etag(store: TableResultStore) -> None:
    assert await store.load_watermark() is None
    assert await store.save_watermark(None, T0)
    assert not await store.save_watermark(None, T0 + timedelta(hours=1))  # a racing first pass loses
    first = await store.load_watermark()
    assert first is not None and first.value == T0
    assert await store.save_watermark(first, T0 + timedelta(minutes=1))
    assert not await store.save_watermark(first, T0 + timedelta(minutes=2))  # stale read loses
    latest = await store.load_watermark()
    assert latest is not None and latest.value == T0 + timedelta(minutes=1)


async def test_paging_and_filters(store: TableResultStore) -> None:
    for n in range(25):
        await store.record(run(f"id-{n:02d}", [n], minutes=n, orchestration="fanout" if n % 2 else "chaining"))
    seen: list[str] = []
    token = None
    while True:
        page = await store.query_results(top=10, continuation_token=token)
        assert len(page.results) <= 10
        seen += [r.instance_id for r in page.results]
        token = page.continuation_token
        if token is None:
            break
    assert seen == [f"id-{n:02d}" for n in range(25)]
    fanout = await store.query_results(top=100, orchestration="fanout")
    assert [r.instance_id for r in fanout.results] == [f"id-{n:02d}" for n in range(1, 25, 2)]
    recent = await store.query_results(top=100, since=T0 + timedelta(minutes=20))
    assert [r.instance_id for r in recent.results] == [f"id-{n:02d}" for n in range(20, 25)]


async def test_collection_passes_record_more_than_a_page_exactly_once(store: TableResultStore) -> None:
    """The pass logic against the real table; instances come from a list that pages like the host's."""
    instances = {
        f"run-{n:03d}": InstanceSnapshot(
            f"run-{n:03d}",
            "fan_out_fan_in_orchestration",
            "Completed" if n < 230 else "Running",
            T0 + timedelta(milliseconds=5 * n),
            T0 + timedelta(seconds=3),
            output=[f"Hello {n}!"],
        )
        for n in range(250)
    }

    async def list_window(start: datetime, end: datetime) -> Sequence[InstanceSnapshot]:
        found = [i for i in instances.values() if start <= i.created_time <= end]
        return sorted(found, key=lambda i: i.instance_id)[:PAGE_SIZE]

    now = T0 + timedelta(minutes=1)
    first = await run_collection_pass(list_window, store, RecordedCache(), now=now)
    assert first.recorded == 230 and first.not_terminal == 20
    for instance_id, instance in list(instances.items())[230:]:
        instances[instance_id] = InstanceSnapshot(
            instance_id, instance.name, "Completed", instance.created_time, now + timedelta(seconds=1), instance.output
        )
    # Two workers with empty caches race on the next pass.
    second = await asyncio.gather(
        *(run_collection_pass(list_window, store, RecordedCache(), now=now + timedelta(seconds=10)) for _ in range(2))
    )
    assert sum(r.recorded for r in second) == 20
    results = await all_results(store)
    assert sorted(r.instance_id for r in results) == sorted(instances)
    watermark = await store.load_watermark()
    assert isinstance(watermark, Watermark) and watermark.value > T0
