"""Poison: malformed start requests mixed with good ones. Good ones complete; each bad one is retried,
logged with its reason and moved to the poison queue; an oversized one is refused at send; the host never
restarts."""

from __future__ import annotations

import base64
import json
import random
import re
from argparse import Namespace
from collections import Counter

import pytest
from azure.core.exceptions import HttpResponseError

import producer
from tests.reliability.scenarios import SentRequest, rig
from tests.support.azurite import REPO_ROOT
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow, pytest.mark.timeout(240)]
#: The app's host.json extensions.queues.maxDequeueCount: tries before a failing message is poisoned.
MAX_DEQUEUE_COUNT = json.loads((REPO_ROOT / "host.json").read_text())["extensions"]["queues"]["maxDequeueCount"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _fanout(**fields: object) -> dict[str, object]:
    return {"orchestration": "fanout", "requestId": "r", **fields}


def _bad_messages(n: int) -> list[tuple[str, str, str]]:
    """n (label, queue message content, reason fragment the log must show) cases, cycling through the kinds."""
    kinds: list[tuple[str, object, str]] = [
        ("invalid JSON", _b64(b'{"orchestration": "chaining", "requestId": '), "message is not valid JSON"),
        ("unknown orchestration", {"orchestration": "teleport", "requestId": "r"}, "orchestration must be"),
        ("requestId a number", {"orchestration": "chaining", "requestId": 42}, "requestId must be a string"),
        (
            "cities a string",
            {"orchestration": "fanout", "requestId": "r", "cities": "Paris"},
            "cities must be an array",
        ),
        (
            "cities numbers",
            {"orchestration": "fanout", "requestId": "r", "cities": [1, 2]},
            "cities[0] must be a string",
        ),
        (
            "empty city",
            {"orchestration": "chaining", "requestId": "r", "cities": [""]},
            "cities[0] must be a non-empty",
        ),
        (
            "blank city",
            {"orchestration": "fanout", "requestId": "r", "cities": ["Oslo", "  "]},
            "cities[1] must be a non",
        ),
        ("no cities", {"orchestration": "fanout", "requestId": "r", "cities": []}, "cities must hold 1 to"),
        ("JSON array", [1, 2], "message must be a JSON object"),
        ("JSON null", None, "message must be a JSON object"),
        ("unknown field", {"orchestration": "chaining", "requestId": "r", "priority": 1}, "unknown field(s) priority"),
        ("slash in id", {"orchestration": "chaining", "requestId": "a/b"}, "requestId must not contain /"),
        ("long id", {"orchestration": "chaining", "requestId": "x" * 101}, "requestId is 101 characters long"),
        ("missing id", {"orchestration": "chaining"}, "requestId is missing"),
        ("not UTF-8", _b64(b"\xff\xfe\xfd"), "message is not valid UTF-8"),
        ("not base64", "this is not base64!", "is not valid base64"),
    ]
    cases = []
    for i in range(n):
        label, value, reason = kinds[i % len(kinds)]
        if isinstance(value, str):
            content = value
        else:
            # Unique request ids so every bad message is a distinct message.
            if isinstance(value, dict) and value.get("requestId") == "r":
                value = {**value, "requestId": f"bad{i}"}
            content = _json(value)
        cases.append((label, content, reason))
    return cases


def test_poison_messages_end_in_the_poison_queue_and_good_ones_complete() -> None:
    rng = random.Random(5)
    with rig() as r:
        host = r.start_host()
        pid = host.process.pid
        queue = r.queue_client()
        # Over 64 KB after base64: the producer refuses it before sending, and storage refuses it too.
        huge = Namespace(orchestration="fanout", count=1, cities=["x" * 100] * 600, request_id=None)
        with pytest.raises(producer.ProducerError, match=r"above the queue limit of 65536"):
            producer.send_requests(queue, huge)
        with pytest.raises(HttpResponseError) as refused:
            queue.send_message(_json({"orchestration": "fanout", "requestId": "huge", "cities": ["x" * 100] * 600}))
        # Storage (Azurite, like Azure) refuses a message text above 64 KB with 413 RequestBodyTooLarge.
        assert refused.value.status_code == 413
        assert getattr(refused.value, "error_code", None) == "RequestBodyTooLarge"  # set by azure-storage, untyped

        bad = _bad_messages(49)  # + the oversized one refused at send = 50
        good: list[SentRequest] = []
        sent_bad: dict[str, tuple[str, str, str]] = {}
        order = ["bad"] * len(bad) + ["good"] * 50
        rng.shuffle(order)
        bad_iter = iter(bad)
        for kind in order:
            if kind == "good":
                args = Namespace(
                    orchestration=rng.choice(["chaining", "fanout"]), count=1, cities=None, request_id=None
                )
                instance_id = producer.send_requests(queue, args)[0]
                cities = ("Tokyo", "Seattle", "London") + (
                    ("Paris", "Berlin") if args.orchestration == "fanout" else ()
                )
                good.append(SentRequest(instance_id, args.orchestration, cities))
            else:
                case = next(bad_iter)
                sent_bad[queue.send_message(case[1]).id] = case

        poison = r.queue_client(f"{r.queue_name}-poison")
        wait_until(lambda: r.queue_length(poison.queue_name) >= len(sent_bad), 150, "every bad message poisoned", 1.0)
        wait_until(lambda: r.completed_count() >= len(good), 60, "the good requests to complete", 0.5)
        wait_until(lambda: r.queue_length() == 0, 60, "the request queue to drain", 0.5)

        assert r.queue_length(poison.queue_name) == len(sent_bad)
        poisoned: list[str] = []
        while batch := list(poison.receive_messages(max_messages=32, visibility_timeout=120)):
            poisoned += [str(m.content) for m in batch]
        # The poison queue holds each bad message exactly once, unchanged.
        assert Counter(poisoned) == Counter(case[1] for case in sent_bad.values())

        statuses = r.statuses()
        for request in good:
            status = statuses[request.instance_id]
            assert status["runtimeStatus"] == "Completed" and status["output"] == request.expected_output
        assert not [i for i in statuses if i.startswith("hello-bad")]  # nothing bad started anything

        # A line may trail the move it reports: wait for every message's line first.
        output = host.wait_for_output(*(f"Message {message_id} on queue" for message_id in sent_bad))
        queues = f"on queue '{r.queue_name}' moved to poison queue '{poison.queue_name}' because"
        for message_id, (label, _, reason) in sent_bad.items():
            # The host moves a message it cannot decode at once, any other after its last failed try.
            if label == "not base64":
                why = (
                    r'message is not valid base64 \(.+\) and host\.json extensions\.queues\.messageEncoding is "base64"'
                )
            else:
                why = f"it has reached maxDequeueCount of {MAX_DEQUEUE_COUNT}"
            moved = re.findall(
                rf"^\[[^\]]+\] Message {re.escape(message_id)} {re.escape(queues)} {why}\.$", output, re.M
            )
            assert len(moved) == 1, f"{label}: not one poison line for {message_id}: {moved}"
            rejected = [line for line in output.splitlines() if message_id in line and reason in line]
            assert rejected, f"{label}: reason {reason!r} not logged for {message_id}"
        assert host.process.poll() is None and host.process.pid == pid  # never restarted
        assert output.count("Host started") == 1
