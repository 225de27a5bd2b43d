"""Test app for devhost's pytest plugin: an approval with a 24-hour timeout, a chain, HTTP, queue and timer starters."""

import json
import logging
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    logging.info("Saying hello to %s.", city)
    return f"Hello {city}!"


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle"]
    greetings = []
    for city in cities:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Waits 24 hours for an Approval event; escalates when none comes."""
    started = context.current_utc_datetime
    deadline = context.create_timer(started + timedelta(hours=24))
    decision = context.wait_for_external_event("Approval")
    winner = yield context.task_any([decision, deadline])
    if winner == decision:
        deadline.cancel()
        return {"outcome": "approved" if decision.result else "rejected"}
    waited = context.current_utc_datetime - started
    return {"outcome": "escalated", "waited_hours": waited.total_seconds() / 3600}


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None, json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.queue_trigger(arg_name="message", queue_name="%TESTING_APP_QUEUE%", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def queue_start(message: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    request = json.loads(message.get_body())
    await client.start_new("chain", request["id"], request["cities"])


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer")
@app.durable_client_input(client_name="client")
async def nightly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("chain", "nightly-run", ["Oslo"])
