"""Input validation, HTTP starter bodies, queue message parsing and idempotent instance ids."""

from __future__ import annotations

import json

import pytest

from hello_cities.catalog import CHAINING, FAN_OUT_FAN_IN
from hello_cities.messages import (
    InvalidMessageError,
    encode_start_message,
    instance_id_for,
    parse_start_message,
    validate_request_id,
)
from hello_cities.validation import (
    InvalidInputError,
    cities_or_default,
    parse_orchestration_input,
    parse_start_body,
    validate_cities,
)


def test_defaults_when_no_input_or_no_cities_field() -> None:
    assert cities_or_default(None, CHAINING.default_cities) == ["Tokyo", "Seattle", "London"]
    assert cities_or_default({}, FAN_OUT_FAN_IN.default_cities) == ["Tokyo", "Seattle", "London", "Paris", "Berlin"]
    assert cities_or_default({"cities": ["Oslo"]}, CHAINING.default_cities) == ["Oslo"]


def test_city_limits_are_inclusive() -> None:
    assert validate_cities(["x" * 100]) == ["x" * 100]
    assert len(validate_cities(["A"] * 10_000)) == 10_000
    for bad in ([], ["A"] * 10_001, ["x" * 101], ["  "], ["Tok\nyo"], [None], "Tokyo", {"a": 1}):
        with pytest.raises(InvalidInputError):
            validate_cities(bad)


def test_orchestration_input_rejects_non_objects_and_unknown_fields() -> None:
    with pytest.raises(InvalidInputError, match="must be a JSON object"):
        parse_orchestration_input("Tokyo")
    with pytest.raises(InvalidInputError, match="unknown field"):
        parse_orchestration_input({"cities": ["A"], "extra": 1})


@pytest.mark.parametrize("body", [b"", b"   \n", b"{}"])
def test_empty_body_or_empty_object_starts_the_default_run(body: bytes) -> None:
    assert parse_start_body(body) is None


def test_body_with_cities_becomes_the_input() -> None:
    assert parse_start_body(b'{"cities": ["Oslo", "Lima"]}') == {"cities": ["Oslo", "Lima"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"\xff\xfe", "request body is not valid UTF-8"),
        (b"[1, 2]", "input must be a JSON object"),
        (b'{"cities": []}', "cities must hold 1 to 10000 cities, got 0"),
        (b'{"cities": [""]}', "cities[0] must be a non-empty string"),
        (b'{"cities": null}', "cities must be an array of strings, got null"),
    ],
)
def test_malformed_bodies_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_start_body(body)
    assert message in str(raised.value)


def test_message_maps_to_a_stable_instance_id() -> None:
    text = json.dumps({"orchestration": "fanout", "requestId": "abc-123", "cities": ["Oslo"]})
    first, again = parse_start_message(text), parse_start_message(text.encode("utf-8"))
    assert first == again
    assert first.orchestration is FAN_OUT_FAN_IN
    assert first.instance_id == again.instance_id == instance_id_for("abc-123") == "hello-abc-123"
    assert first.input == {"cities": ["Oslo"]}
    assert parse_start_message('{"orchestration": "chaining", "requestId": "r1"}').input is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not valid JSON"),
        (b"\xc3\x28", "not valid UTF-8"),
        ('["chaining"]', "must be a JSON object"),
        ('{"orchestration": "other", "requestId": "r"}', "orchestration must be 'chaining' or 'fanout'"),
        ('{"requestId": "r"}', "orchestration must be"),
        ('{"orchestration": "chaining"}', "requestId is missing"),
        ('{"orchestration": "chaining", "requestId": ""}', "must not be empty"),
        ('{"orchestration": "chaining", "requestId": 5}', "requestId must be a string"),
        ('{"orchestration": "chaining", "requestId": "a/b"}', "must not contain /"),
        ('{"orchestration": "chaining", "requestId": "a?b#c"}', "must not contain # ?"),
        ('{"orchestration": "chaining", "requestId": "a\\\\b"}', "must not contain \\"),
        ('{"orchestration": "chaining", "requestId": "a\\u0007b"}', "control characters"),
        ('{"orchestration": "chaining", "requestId": " a"}', "whitespace"),
        (json.dumps({"orchestration": "chaining", "requestId": "r" * 101}), "the maximum is 100"),
        ('{"orchestration": "chaining", "requestId": "r", "cities": []}', "got 0"),
        ('{"orchestration": "chaining", "requestId": "r", "cities": [1]}', "cities[0] must be a string"),
        ('{"orchestration": "chaining", "requestId": "r", "priority": 1}', "unknown field(s) priority"),
    ],
)
def test_malformed_messages_are_rejected_with_their_reason(body: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as raised:
        parse_start_message(body)
    assert reason in str(raised.value)


def test_request_id_bounds() -> None:
    assert validate_request_id("r" * 100) == "r" * 100
    assert validate_request_id("0f9e-Ω-ok") == "0f9e-Ω-ok"


def test_encode_round_trips_and_refuses_what_the_parser_would_reject() -> None:
    text = encode_start_message("chaining", "req-1", ["Oslo"])
    assert json.loads(text) == {"orchestration": "chaining", "requestId": "req-1", "cities": ["Oslo"]}
    assert parse_start_message(text).instance_id == "hello-req-1"
    with pytest.raises(InvalidMessageError):
        encode_start_message("chaining", "bad/id")
