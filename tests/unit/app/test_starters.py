"""The HTTP and queue starters reject bad input before they touch the Durable client (real SDK wrappers)."""

from __future__ import annotations

import base64
import json

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from hello_cities.messages import InvalidMessageError
from hello_cities.results_query import (
    InvalidQueryError,
    decode_continuation_token,
    encode_continuation_token,
    parse_results_query,
)
from tests.unit.app.replay import user_function

# A binding payload shaped like the extension's; nothing listens on it, so any network use would fail.
CLIENT_BINDING = json.dumps(
    {
        "taskHubName": "default",
        "creationUrls": {},
        "managementUrls": {"id": "INSTANCEID"},
        "rpcBaseUrl": "http://127.0.0.1:9/durabletask/",
    }
)


def _post(route: str, body: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", f"http://localhost:7071/api/{route}", body=body, headers={})


@pytest.mark.parametrize(
    ("function", "route"), [("start_chaining", "StartChaining"), ("start_fan_out_fan_in", "StartFanOutFanIn")]
)
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{oops", "request body is not valid JSON"),
        (b'{"cities": []}', "cities must hold 1 to 10000 cities, got 0"),
        (b'{"cities": ["ok", ""]}', "cities[1] must be a non-empty string"),
        (b'"Tokyo"', "input must be a JSON object"),
    ],
)
async def test_http_starters_answer_400_with_a_json_error(function: str, route: str, body: bytes, error: str) -> None:
    response = await user_function(function)(req=_post(route, body), client=CLIENT_BINDING)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert error in json.loads(response.get_body())["error"]


async def test_queue_starter_raises_on_a_malformed_message_so_the_host_retries_then_poisons_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = QueueMessage(id="m1", body=b'{"orchestration": "nope", "requestId": "r1"}', dequeue_count=1)
    with pytest.raises(InvalidMessageError, match="orchestration must be"):
        await user_function("start_from_queue")(message=message, client=CLIENT_BINDING)
    assert any("Rejected queue message m1" in m and "orchestration must be" in m for m in caplog.messages)


async def test_results_endpoint_rejects_bad_parameters_before_collecting() -> None:
    request = func.HttpRequest("GET", "http://localhost:7071/api/results", params={"top": "0"}, body=b"")
    response = await user_function("get_results")(req=request, client=CLIENT_BINDING)
    assert response.status_code == 400
    assert "top must be an integer from 1 to 1000" in json.loads(response.get_body())["error"]


def test_results_query_parsing() -> None:
    assert parse_results_query({}).top == 100
    query = parse_results_query(
        {"orchestration": "fan_out_fan_in_orchestration", "since": "2024-05-01T10:00:00Z", "top": "1000", "code": "k"}
    )
    assert query.orchestration == "fanout"
    assert query.since is not None and query.since.isoformat() == "2024-05-01T10:00:00+00:00"
    assert query.top == 1000
    for params in (
        {"top": "1001"},
        {"top": "ten"},
        {"since": "yesterday"},
        {"orchestration": "other"},
        {"continuationToken": "!!!"},
        {"continuationToken": base64.urlsafe_b64encode(b'{"a": 1}').decode()},
        {"topp": "1"},
    ):
        with pytest.raises(InvalidQueryError):
            parse_results_query(params)


def test_continuation_tokens_round_trip() -> None:
    token = {"PartitionKey": "result", "RowKey": "hello-abc"}
    encoded = encode_continuation_token(token)
    assert encoded is not None and "=" not in encoded
    assert decode_continuation_token(encoded) == token
    assert encode_continuation_token(None) is None
