"""The results collector under the local host: more than a page of runs, each recorded exactly once.

The collector timer fires every second while the test also triggers passes through GET /api/results,
so passes overlap each other and runs that are still going when a pass looks at them.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableClient

from hello_cities.results_store import RESULT_PARTITION
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[3]
GREETINGS_3 = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
GREETINGS_5 = [*GREETINGS_3, "Hello Paris!", "Hello Berlin!"]


@pytest.fixture(scope="module")
def table_name() -> str:
    return f"HelloCollector{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def host(azurite: Azurite, table_name: str) -> Iterator[DevHost]:
    settings = {
        "HELLO_CITIES_RESULTS_TABLE": table_name,
        "HELLO_CITIES_COLLECTOR_SCHEDULE": "*/1 * * * * *",
        "HELLO_CITIES_QUEUE": f"hello-collector-{uuid.uuid4().hex[:10]}",
    }
    with running_devhost(REPO_ROOT, azurite, extra_env=settings) as running:
        yield running


def test_an_idle_collector_keeps_the_log_quiet(host: DevHost) -> None:
    """Passes with nothing new log their summary at DEBUG: only the host's Executing/Executed lines show."""
    start = len(host.output())

    def passes() -> int:
        return host.output()[start:].count("Executed 'Functions.collect_results' (Succeeded")

    wait_until(lambda: passes() >= 3, 15, "three collector passes")
    assert "Collected results" not in host.output()[start:]


def post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        return dict(json.loads(response.read()))


def all_results(host: DevHost, top: int) -> list[dict[str, Any]]:
    """Every result, following continuation tokens (each page also runs a collection pass)."""
    results: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        url = f"{host.base_url}/api/results?top={top}" + (f"&continuationToken={token}" if token else "")
        with urllib.request.urlopen(url, timeout=60) as response:
            body = json.loads(response.read())
        assert len(body["results"]) <= top
        results += body["results"]
        token = body["continuationToken"]
        if token is None:
            return results


def start_runs(host: DevHost, count: int) -> dict[str, list[str]]:
    """Start `count` default runs over HTTP, alternating orchestrations; instance id -> expected output."""

    def start(n: int) -> tuple[str, list[str]]:
        route, greetings = ("StartChaining", GREETINGS_3) if n % 3 == 0 else ("StartFanOutFanIn", GREETINGS_5)
        return post(f"{host.base_url}/api/{route}", b"")["id"], greetings

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(start, range(count)))


def table_rows(azurite: Azurite, table_name: str) -> Counter[str]:
    table = TableClient.from_connection_string(azurite.connection_string, table_name)
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": RESULT_PARTITION}, select=["instanceId"])
    return Counter(row["instanceId"] for row in rows)


def test_more_than_a_page_of_runs_is_recorded_exactly_once(host: DevHost, azurite: Azurite, table_name: str) -> None:
    expected = start_runs(host, 150)

    def all_recorded() -> list[dict[str, Any]] | None:
        results = all_results(host, top=1000)
        return results if {r["instanceId"] for r in results} >= set(expected) else None

    wait_until(all_recorded, 180, "all 150 runs to be recorded", interval=1.0)
    expected |= start_runs(host, 30)
    wait_until(all_recorded, 120, "the 30 later runs to be recorded", interval=1.0)

    results = all_results(host, top=37)
    ids = [r["instanceId"] for r in results]
    assert Counter(ids).most_common(1)[0][1] == 1  # no run listed twice across pages
    assert set(ids) == set(expected)
    for result in results:
        assert result["output"] == expected[result["instanceId"]]
        assert result["orchestration"] == ("chaining" if len(result["output"]) == 3 else "fanout")
    rows = table_rows(azurite, table_name)
    assert set(rows) == set(expected) and max(rows.values()) == 1
    # Passes that recorded runs say so at INFO.
    assert re.search(r"Collected results( \(quick pass\))?: [1-9][0-9]* new", host.output())
