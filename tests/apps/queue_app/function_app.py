"""Test app: queue triggers (plain, retried, poisoned, batched, binding expressions) writing to output queues."""

import asyncio
import json
import threading

import azure.functions as func

app = func.FunctionApp()

_lock = threading.Lock()
_running = 0
_max_running = 0


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_IN%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%QUEUE_OUT%", connection="AzureWebJobsStorage")
def process(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(
        json.dumps(
            {
                "fn": "process",
                "body": msg.get_body().decode(),
                "dequeue_count": msg.dequeue_count,
                "id": msg.id,
                "has_times": msg.insertion_time is not None and msg.pop_receipt is not None,
            }
        )
    )


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_FLAKY%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%QUEUE_OUT%", connection="AzureWebJobsStorage")
def flaky(msg: func.QueueMessage, out: func.Out[str]) -> None:
    if (msg.dequeue_count or 0) < 2:
        raise RuntimeError(f"failing attempt {msg.dequeue_count}")
    out.set(json.dumps({"fn": "flaky", "body": msg.get_body().decode(), "dequeue_count": msg.dequeue_count}))


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_POISON%", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    raise RuntimeError("this message is poison")


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_BATCH%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%QUEUE_OUT%", connection="AzureWebJobsStorage")
async def batch(msg: func.QueueMessage, out: func.Out[str]) -> None:
    global _running, _max_running
    with _lock:
        _running += 1
        _max_running = max(_max_running, _running)
    await asyncio.sleep(0.3)
    with _lock:
        _running -= 1
        observed = _max_running
    out.set(json.dumps({"fn": "batch", "body": msg.get_body().decode(), "max_running": observed}))


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_JSON%", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="blob", path="queueapp/{name}-{DequeueCount}.txt", connection="AzureWebJobsStorage")
def to_blob(msg: str, blob: func.Out[bytes]) -> None:
    blob.set(json.loads(msg)["text"].encode())
