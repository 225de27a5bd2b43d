"""Test app: a fan-out of slow activities, each recording its execution in SLOW_APP_RECORD_DIR.

Used to shut the host down (SIGTERM) while activities run: every activity must end up completed once in
the orchestration output, however often it ran.
"""

import os
import time
import uuid
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start/{count:int}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start one fan-out of `count` slow activities."""
    instance_id = await client.start_new("slow_fan_out", None, int(req.route_params["count"]))
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def slow_fan_out(context: df.DurableOrchestrationContext):
    """Run the slow activity `count` times in parallel and return the results in order."""
    count = context.get_input()
    results = yield context.task_all(
        [context.call_activity("slow_step", f"{context.instance_id}:{i}") for i in range(count)]
    )
    return results


@app.activity_trigger(input_name="item")
def slow_step(item: str) -> str:
    """Record the start, sleep SLOW_APP_SECONDS, record the end; returns the item."""
    record_dir = Path(os.environ["SLOW_APP_RECORD_DIR"])
    token = f"{item.replace(':', '_')}.{uuid.uuid4().hex[:8]}"
    (record_dir / f"started.{token}").touch()
    time.sleep(float(os.environ.get("SLOW_APP_SECONDS", "2")))
    (record_dir / f"finished.{token}").touch()
    return item
