"""The orchestrators replayed through the SDK's own handle, episode by episode, as the host drives them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import function_app
from devhost.testing import run_orchestrator
from tests.unit.app.replay import CALL_ACTIVITY, WHEN_ALL, Replayer, activity_inputs, user_function

OUT_OF_PROC_MARKER = "$OutOfProcData$:"


def test_chaining_schedules_one_city_per_episode_and_returns_the_three_greetings() -> None:
    replay = Replayer("chaining_orchestration")

    first = replay.run_episode()
    assert first["isDone"] is False
    assert first["schemaVersion"] == 2
    assert first["actions"] == [[{"actionType": CALL_ACTIVITY, "functionName": "say_hello", "input": '"Tokyo"'}]]

    second = replay.run_episode([replay.completion(0, "Hello Tokyo!")])
    assert second["isDone"] is False
    assert activity_inputs(second) == [("say_hello", "Tokyo"), ("say_hello", "Seattle")]

    third = replay.run_episode([replay.completion(1, "Hello Seattle!")])
    assert third["isDone"] is False
    assert activity_inputs(third)[-1] == ("say_hello", "London")

    final = replay.run_episode([replay.completion(2, "Hello London!")])
    assert final["isDone"] is True
    assert final["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert len(activity_inputs(final)) == 3


def test_fan_out_schedules_all_five_at_once_and_keeps_input_order_whatever_the_completion_order() -> None:
    replay = Replayer("fan_out_fan_in_orchestration")
    cities = ["Tokyo", "Seattle", "London", "Paris", "Berlin"]

    first = replay.run_episode()
    assert first["isDone"] is False
    [[when_all]] = first["actions"]
    assert when_all["actionType"] == WHEN_ALL
    assert [json.loads(a["input"]) for a in when_all["compoundActions"]] == cities
    assert {a["functionName"] for a in when_all["compoundActions"]} == {"say_hello"}

    # Completions arrive in reverse order, split over two episodes.
    partial = replay.run_episode([replay.completion(i, f"Hello {cities[i]}!") for i in (4, 3)])
    assert partial["isDone"] is False
    final = replay.run_episode([replay.completion(i, f"Hello {cities[i]}!") for i in (2, 1, 0)])
    assert final["isDone"] is True
    assert final["output"] == [f"Hello {city}!" for city in cities]


@pytest.mark.parametrize(
    "orchestrator",
    [function_app.chaining_orchestration, function_app.fan_out_fan_in_orchestration],
    ids=["chaining", "fan_out"],
)
def test_custom_cities_replace_the_defaults(orchestrator: Any) -> None:
    # devhost's run_orchestrator drives the episodes with the real activity (the project eats its own cooking).
    result = run_orchestrator(
        orchestrator, {"cities": ["Oslo", "Lima", "Kraków"]}, activities={"say_hello": function_app.say_hello}
    )
    assert result.output == ["Hello Oslo!", "Hello Lima!", "Hello Kraków!"]
    assert result.calls == [("say_hello", "Oslo"), ("say_hello", "Lima"), ("say_hello", "Kraków")]


@pytest.mark.parametrize("orchestrator", ["chaining_orchestration", "fan_out_fan_in_orchestration"])
@pytest.mark.parametrize(
    ("input_value", "expected_error"),
    [
        ({"cities": []}, "cities must hold 1 to 10000 cities, got 0"),
        ({"cities": ["Tokyo", ""]}, "cities[1] must be a non-empty string"),
        ({"cities": ["x" * 101]}, "cities[0] is 101 characters long; the maximum is 100"),
        ({"cities": "Tokyo"}, "cities must be an array of strings, got string"),
        ({"cities": ["Tokyo", 7]}, "cities[1] must be a string, got number"),
        ({"towns": ["Tokyo"]}, "unknown field(s) towns"),
        (["Tokyo"], "input must be a JSON object"),
    ],
)
def test_invalid_input_fails_fast_without_scheduling_anything(
    orchestrator: str, input_value: object, expected_error: str
) -> None:
    replay = Replayer(orchestrator, input_text=json.dumps(input_value))
    with pytest.raises(Exception) as raised:
        replay.run_episode()
    message = str(raised.value)
    assert OUT_OF_PROC_MARKER in message
    state = json.loads(message.split(OUT_OF_PROC_MARKER, 1)[1])
    assert state["isDone"] is False
    assert state["actions"] in ([], [[]])
    assert expected_error in state["error"]


def test_ten_thousand_cities_fan_out_in_one_episode() -> None:
    cities = [f"City {n}" for n in range(10_000)]
    replay = Replayer("fan_out_fan_in_orchestration", input_text=json.dumps({"cities": cities}))
    first = replay.run_episode()
    assert len(activity_inputs(first)) == 10_000
    final = replay.run_episode([replay.completion(i, f"Hello {city}!") for i, city in enumerate(cities)])
    assert final["isDone"] is True
    assert final["output"][0] == "Hello City 0!"
    assert final["output"][-1] == "Hello City 9999!"


def test_ten_thousand_and_one_cities_are_rejected() -> None:
    replay = Replayer("fan_out_fan_in_orchestration", input_text=json.dumps({"cities": ["A"] * 10_001}))
    with pytest.raises(Exception, match="got 10001"):
        replay.run_episode()


def test_a_failed_activity_fails_the_chain_with_its_reason() -> None:
    def boom(city: str) -> str:
        raise RuntimeError(f"no greeting for {city}")

    result = run_orchestrator(function_app.chaining_orchestration, activities={"say_hello": boom})
    assert result.status == "Failed"
    assert result.failure is not None
    assert result.failure.startswith(
        "Orchestrator function 'chaining_orchestration' failed: Activity function 'say_hello' failed: "
        "RuntimeError: no greeting for Tokyo"
    )
    assert result.calls == [("say_hello", "Tokyo")]


def test_say_hello_greets_and_logs_the_city(caplog: pytest.LogCaptureFixture) -> None:
    activity = user_function("say_hello")
    with caplog.at_level(logging.INFO):
        assert activity(city="Tokyo") == "Hello Tokyo!"
    assert "Saying hello to Tokyo." in caplog.messages
