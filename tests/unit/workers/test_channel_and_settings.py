"""The host <-> worker frames, the worker settings and how the worker converts binding data."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import azure.functions as func
import pytest

from devhost.errors import ConfigError
from devhost.protocol.framing import ChannelClosed, encode_frame, read_frame
from devhost.worker.conversions import OutputTypeError, input_value, output_data, trigger_value
from devhost.workers.pool import format_timespan, pool_settings


async def test_frames_round_trip_and_end_of_stream_is_channel_closed() -> None:
    reader = asyncio.StreamReader()
    messages = [{"type": "invoke", "id": 1, "text": "héllo"}, {"type": "response", "id": 1, "ok": True}]
    for message in messages:
        reader.feed_data(encode_frame(message))
    reader.feed_eof()
    assert [await read_frame(reader), await read_frame(reader)] == messages
    with pytest.raises(ChannelClosed):
        await read_frame(reader)


async def test_a_truncated_frame_is_channel_closed() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame({"type": "log"})[:-2])
    reader.feed_eof()
    with pytest.raises(ChannelClosed):
        await read_frame(reader)


def test_worker_settings_and_their_errors() -> None:
    settings = pool_settings(
        {"FUNCTIONS_WORKER_PROCESS_COUNT": "3", "PYTHON_THREADPOOL_THREAD_COUNT": "8"}, timedelta(minutes=5)
    )
    assert (settings.process_count, settings.thread_count, settings.function_timeout) == (3, 8, timedelta(minutes=5))
    defaults = pool_settings({}, None)
    assert (defaults.process_count, defaults.thread_count) == (1, None)
    with pytest.raises(
        ConfigError, match=r"FUNCTIONS_WORKER_PROCESS_COUNT must be a whole number from 1 to 10, got '11'"
    ):
        pool_settings({"FUNCTIONS_WORKER_PROCESS_COUNT": "11"}, None)
    with pytest.raises(ConfigError, match="PYTHON_THREADPOOL_THREAD_COUNT must be a whole number from 1"):
        pool_settings({"PYTHON_THREADPOOL_THREAD_COUNT": "many"}, None)


def test_timeouts_print_as_dotnet_timespans() -> None:
    assert format_timespan(timedelta(seconds=5)) == "00:00:05"
    assert format_timespan(timedelta(minutes=30)) == "00:30:00"
    assert format_timespan(timedelta(hours=26, seconds=1)) == "26:00:01"
    assert format_timespan(timedelta(milliseconds=1500)) == "00:00:01.5000000"


def test_trigger_data_becomes_the_sdk_types_by_annotation() -> None:
    body = base64.b64encode(b'{"a": 1}').decode()
    request = trigger_value(
        "httpTrigger",
        {"method": "POST", "url": "http://x/api/f?q=1", "headers": {"h": "v"}, "params": {"q": "1"}, "body": body},
        func.HttpRequest,
    )
    assert isinstance(request, func.HttpRequest)
    assert (request.method, request.params["q"], request.get_json()) == ("POST", "1", {"a": 1})
    queue = {"id": "m1", "body": body, "dequeue_count": 2, "insertion_time": "2024-05-01T10:00:00+00:00"}
    message = trigger_value("queueTrigger", queue, None)
    assert isinstance(message, func.QueueMessage) and message.dequeue_count == 2 and message.get_json() == {"a": 1}
    assert trigger_value("queueTrigger", queue, str) == '{"a": 1}'
    assert trigger_value("queueTrigger", queue, bytes) == b'{"a": 1}'
    timer = trigger_value("timerTrigger", {"past_due": True}, None)
    assert timer.past_due is True


def test_inputs_by_annotation_and_outputs_in_wire_shape() -> None:
    blob = {"data": base64.b64encode(b"content").decode(), "name": "c/b.txt", "uri": "http://u", "length": 7}
    assert input_value({"type": "blob"}, blob, str) == "content"
    assert input_value({"type": "blob"}, blob, bytes) == b"content"
    stream = input_value({"type": "blob"}, blob, None)
    assert stream.read() == b"content" and stream.name == "c/b.txt" and stream.length == 7
    assert input_value({"type": "table"}, {"text": "[]"}, bytes) == b"[]"
    response = output_data({"type": "http"}, func.HttpResponse("hi", status_code=201), "f")
    assert response is not None and response["status"] == 201 and base64.b64decode(response["body"]) == b"hi"
    assert output_data({"type": "http"}, "plain", "f") == {"text": "plain"}
    queue = output_data({"type": "queue"}, ["a", b"b", {"k": 1}], "f")
    assert queue == {"messages": [{"text": "a"}, {"data": base64.b64encode(b"b").decode()}, {"text": '{"k": 1}'}]}
    assert output_data({"type": "table"}, {"PartitionKey": "p"}, "f") == {"text": json.dumps({"PartitionKey": "p"})}
    assert output_data({"type": "blob"}, None, "f") is None
    with pytest.raises(OutputTypeError, match=r"return func\.HttpResponse or str"):
        output_data({"type": "http"}, 42, "f")
    with pytest.raises(OutputTypeError, match="cannot send a int as a queue message"):
        output_data({"type": "queue"}, 42, "f")
