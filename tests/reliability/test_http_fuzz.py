"""HTTP fuzzing of every route the host serves, from the OpenAPI documents it publishes (schemathesis):
no 5xx, no hung connection; oversized bodies get 413."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import DevHost, running_devhost

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow]
#: Generated cases per operation: bounded so the whole fuzz run fits the suite's time budget.
MAX_EXAMPLES = 8
REQUEST_TIMEOUT_S = 15


@pytest.fixture(scope="module")
def host(azurite: Azurite) -> Iterator[DevHost]:
    with running_devhost(REPO_ROOT, azurite, extra_env={"HELLO_CITIES_COLLECTOR_SCHEDULE": "0 0 0 1 1 *"}) as running:
        yield running


def _document(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_the_documents_describe_every_kind_of_route(host: DevHost) -> None:
    functions = _document(f"{host.base_url}/openapi.json")["paths"]
    assert "/api/StartChaining" in functions and "post" in functions["/api/StartChaining"]
    assert "/api/results" in functions
    assert "/admin/functions/{name}" in functions
    assert "/runtime/webhooks/durabletask/instances/{instanceId}" in functions
    assert not [p for p in functions if p.startswith("/_rpc")]  # the SDK's private endpoint is not advertised
    dashboard = _document(f"{host.dashboard_url}/openapi.json")["paths"]
    assert "/api/instances/{instance_id}/history" in dashboard and "/api/overview" in dashboard


def _describe(case, response) -> str:
    return f"{case.method} {case.formatted_path} {case.query}: {response.status_code} {response.text[:300]}"


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def _fuzz(schema_url: str, base_url: str) -> int:
    """Fuzz every operation of the document at schema_url; returns how many operations were fuzzed."""
    schema = schemathesis.openapi.from_url(schema_url)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def check(case) -> None:
            # A hung connection raises after the timeout and fails the case like a 5xx does.
            response = case.call(base_url=base_url, timeout=REQUEST_TIMEOUT_S)
            assert response.status_code < 500, _describe(case, response)

        check()
    return len(operations)


def test_fuzz_functions_port(host: DevHost) -> None:
    assert _fuzz(f"{host.base_url}/openapi.json", host.base_url) >= 20


def test_fuzz_dashboard_port(host: DevHost) -> None:
    assert _fuzz(f"{host.dashboard_url}/openapi.json", host.dashboard_url) >= 10
    assert host.process.poll() is None


def _claimed_size_status(port: int, path: str, size: int) -> int:
    """Send headers claiming a body of `size` bytes (sending only a little of it); the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n\r\n"
        sock.sendall(head.encode() + b"{" * 1024)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "path",
    [
        "/api/StartChaining",
        "/runtime/webhooks/durabletask/orchestrators/chaining_orchestration",
        "/admin/functions/collect_results",
    ],
)
def test_oversized_bodies_get_413_on_the_functions_port(host: DevHost, path: str) -> None:
    assert _claimed_size_status(host.port, path, 100 * 1024 * 1024 + 1) == 413


def test_oversized_bodies_get_413_on_the_dashboard(host: DevHost) -> None:
    assert _claimed_size_status(host.dashboard_port, "/api/instances", 64 * 1024 * 1024) == 413
