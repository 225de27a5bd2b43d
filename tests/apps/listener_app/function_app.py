"""Test app for the queue listener tests: records each message it gets in a file, or takes its time."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%LISTENER_QUEUE%", connection="AzureWebJobsStorage")
def collect(msg: func.QueueMessage) -> None:
    """Append the message body to the file LISTENER_SEEN names (one line per message)."""
    with Path(os.environ["LISTENER_SEEN"]).open("a", encoding="utf-8") as seen:
        seen.write(msg.get_body().decode() + "\n")


@app.queue_trigger(arg_name="msg", queue_name="never-polled", connection="AzureWebJobsStorage")
async def slow(msg: func.QueueMessage) -> None:
    """Runs far longer than the test's functionTimeout."""
    await asyncio.sleep(30)
