"""Test app: a 1-second NCRONTAB timer that runs longer than its period, and a TimeSpan timer from a setting."""

import json
import time
from datetime import UTC, datetime

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
@app.queue_output(arg_name="out", queue_name="%TIMER_OUT%", connection="AzureWebJobsStorage")
def slow_tick(timer: func.TimerRequest, out: func.Out[str]) -> None:
    start = time.time()
    time.sleep(1.5)  # longer than the period: runs must not overlap
    out.set(json.dumps({"fn": "slow_tick", "start": start, "end": time.time(), "past_due": timer.past_due}))


@app.timer_trigger(schedule="%SPAN_SCHEDULE%", arg_name="timer")
@app.queue_output(arg_name="out", queue_name="%SPAN_OUT%", connection="AzureWebJobsStorage")
def span_tick(timer: func.TimerRequest, out: func.Out[str]) -> None:
    # schedule_status is set by the worker (and by devhost) but missing from the type stubs.
    status = timer.schedule_status  # type: ignore[attr-defined]
    out.set(json.dumps({"fn": "span_tick", "at": datetime.now(UTC).isoformat(), "next": status["Next"]}))
