"""HTTP triggers end to end: routes, methods, params, bodies, errors, and table/blob/queue bindings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.storage import drain, queue_client, unique_name, wait_for_messages

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = [pytest.mark.azurite]


@pytest.fixture(scope="module")
def http_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    with running_devhost(APPS / "http_app", azurite, data_dir=tmp_path_factory.mktemp("http")) as host:
        yield host


async def _request(method: str, url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.read()


async def test_request_reaches_function_with_everything(http_host: DevHost):
    status, headers, body = await _request(
        "POST",
        f"{http_host.base_url}/api/echo/bob?a=1&b=two",
        headers={"x-test": "hi", "content-type": "application/json"},
        data=b'{"k": [1, 2]}',
    )
    assert status == 200
    assert headers["x-echo"] == "yes" and headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["method"] == "POST"
    assert payload["url"] == f"{http_host.base_url}/api/echo/bob?a=1&b=two"
    assert payload["name"] == "bob"
    assert payload["params"] == {"a": "1", "b": "two"}
    assert payload["header"] == "hi"
    assert payload["json"] == {"k": [1, 2]}
    assert payload["function_name"] == "echo"
    http_host.wait_for_output(
        f"Executing 'Functions.echo' (Reason='This function was programmatically called via the host APIs.', "
        f"Id={payload['invocation_id']})"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/items/42", b"item 42"),
        ("/api/items/abc", b"slug abc"),
        ("/api/ITEMS/7", b"item 7"),
        ("/api/files/a/b/c.txt", b"path=a/b/c.txt"),
        ("/api/files", b"path="),
        ("/api/opt/zz", b"zz"),
        ("/api/opt", b"none"),
    ],
)
async def test_route_templates(http_host: DevHost, path: str, expected: bytes):
    status, headers, body = await _request("GET", http_host.base_url + path)
    assert (status, body) == (201 if path.startswith("/api/opt") else 200, expected)
    if not path.startswith("/api/opt"):
        assert headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_wrong_method_and_unknown_route(http_host: DevHost):
    status, headers, body = await _request("DELETE", f"{http_host.base_url}/api/items/4")
    assert status == 405 and headers["Allow"] == "GET"
    status, _, body = await _request("GET", f"{http_host.base_url}/api/nothing/here")
    assert status == 404 and "no function serves" in json.loads(body)["error"]


async def test_unhandled_exception_is_500_with_invocation_id_and_logged(http_host: DevHost):
    status, _, body = await _request("GET", f"{http_host.base_url}/api/boom")
    assert status == 500
    payload = json.loads(body)
    assert "kaboom" in payload["error"]
    http_host.wait_for_output(
        f"Executed 'Functions.boom' (Failed, Id={payload['invocationId']}",
        'raise ValueError("kaboom")',  # the traceback is logged
        "about to fail",  # the user's own logging shows too
    )


async def test_unsupported_return_type_fails_like_the_worker(http_host: DevHost):
    status, _, body = await _request("GET", f"{http_host.base_url}/api/dict")
    assert status == 500
    payload = json.loads(body)
    assert "return func.HttpResponse or str" in payload["error"]
    http_host.wait_for_output(f"Executed 'Functions.returns_dict' (Failed, Id={payload['invocationId']}")


async def test_function_level_route_needs_no_key_on_loopback(http_host: DevHost):
    status, _, body = await _request("GET", f"{http_host.base_url}/api/secure")
    assert (status, body) == (200, b"secret")


async def test_table_output_then_input_single_and_query(http_host: DevHost):
    row = unique_name("r")
    status, _, _ = await _request("PUT", f"{http_host.base_url}/api/tables/{row}", json={"value": 5})
    assert status == 204
    status, _, body = await _request("GET", f"{http_host.base_url}/api/tables/{row}")
    entity = json.loads(body)
    assert status == 200
    assert (entity["PartitionKey"], entity["RowKey"], entity["Value"]) == ("p", row, 5)
    assert "Timestamp" in entity
    status, _, body = await _request("GET", f"{http_host.base_url}/api/tables/{unique_name('missing')}")
    assert (status, body) == (404, b"missing")
    for _ in range(2):
        await _request("PUT", f"{http_host.base_url}/api/tables/{unique_name('r')}", json={"value": 1})
    status, _, body = await _request("GET", f"{http_host.base_url}/api/tables")
    assert status == 200 and len(json.loads(body)) == 2  # take=2


async def test_blob_output_then_input(http_host: DevHost):
    name = unique_name("b")
    status, _, body = await _request("PUT", f"{http_host.base_url}/api/blobs/{name}", data=b"hello blob")
    assert (status, body) == (200, b"stored")
    status, _, body = await _request("GET", f"{http_host.base_url}/api/blobs/{name}")
    assert (status, body) == (200, f"httpapp/{name}.txt:hello blob".encode())
    status, _, _ = await _request("GET", f"{http_host.base_url}/api/blobs/{unique_name('none')}")
    assert status == 404


async def test_queue_output_list(http_host: DevHost, azurite: Azurite):
    out = queue_client(azurite.connection_string, "httpapp-out")
    drain(out)
    status, _, body = await _request("POST", f"{http_host.base_url}/api/enqueue", json={"messages": ["a", "b", "c"]})
    assert (status, body) == (200, b"queued")
    assert sorted(wait_for_messages(out, 3)) == ["a", "b", "c"]


async def test_oversized_body_is_413_json(http_host: DevHost):
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Length": str(101 * 1024 * 1024)}
        async with session.post(f"{http_host.base_url}/api/echo/x", data=b"x", headers=headers) as response:
            assert response.status == 413
            assert "limit" in (await response.json())["error"]


async def test_admin_endpoints(http_host: DevHost):
    status, _, body = await _request("GET", f"{http_host.base_url}/admin/host/status")
    assert status == 200 and json.loads(body)["state"] == "Running"
    status, _, body = await _request("GET", f"{http_host.base_url}/admin/functions")
    functions = {f["name"]: f for f in json.loads(body)}
    assert functions["echo"]["trigger"] == "httpTrigger"
    assert functions["echo"]["invoke_url_template"] == f"http://localhost:{http_host.port}/api/echo/{{name}}"
    assert functions["echo"]["methods"] == ["GET", "POST"]


def test_startup_banner_lists_functions_like_func(http_host: DevHost):
    output = http_host.output()
    assert "Functions:" in output
    assert f"  echo: [GET,POST] http://localhost:{http_host.port}/api/echo/{{name}}" in output
    assert f"  put_row: [PUT] http://localhost:{http_host.port}/api/tables/{{id}}" in output


async def test_cors_from_local_settings(http_host: DevHost):
    url = f"{http_host.base_url}/api/items/1"
    _, headers, _ = await _request("GET", url, headers={"Origin": "http://allowed.example"})
    assert headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    _, headers, _ = await _request("GET", url, headers={"Origin": "http://other.example"})
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = await _request(
        "OPTIONS", url, headers={"Origin": "http://allowed.example", "Access-Control-Request-Method": "GET"}
    )
    assert status == 204 and headers["Access-Control-Allow-Methods"] == "GET"
