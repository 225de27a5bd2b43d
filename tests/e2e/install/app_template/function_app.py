"""A Durable Functions app kept to what azure-functions-durable 1.2.9 and later all offer.

tests/e2e/install copies it into a folder outside the repository, with its own virtualenv pinned to one
SDK version, and runs `devhost start` there.
"""

import json
import sys
from datetime import timedelta
from importlib import metadata

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def chaining(context: df.DurableOrchestrationContext):
    greetings = []
    for city in context.get_input():
        greeting = yield context.call_activity("say_hello", city)
        greetings.append(greeting)
    return greetings


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    """The cities in parallel (task_all), a durable timer, then a counter entity called once per city."""
    cities = context.get_input()
    greetings = yield context.task_all([context.call_activity("say_hello", city) for city in cities])
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    counter = df.EntityId("counter", "greetings")
    for _ in greetings:
        yield context.call_entity(counter, "add", 1)
    total = yield context.call_entity(counter, "get")
    return {"greetings": greetings, "counted": total}


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
        context.set_state(value)
    context.set_result(value)


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.route(route="runtime", methods=["GET"])
def runtime(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Which Python and which SDKs run this app (the test compares them with the app's virtualenv)."""
    body = {
        "function_name": context.function_name,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "azure-functions": metadata.version("azure-functions"),
        "azure-functions-durable": metadata.version("azure-functions-durable"),
        "devhost_installed": _installed("devhost"),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True
