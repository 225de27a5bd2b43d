"""Test app: the Durable Functions quickstart shape (HTTP starter -> orchestrator -> activity)."""

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.route(route="orchestrators/{functionName}")
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    function_name = req.route_params.get("functionName")
    instance_id = await client.start_new(function_name, client_input=req.params.get("city", "Seattle"))
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("hello", context.get_input())
    second = yield context.call_activity(hello, "Tokyo")
    return [first, second]


@myApp.activity_trigger(input_name="city")
def hello(city: str):
    return f"Hello {city}"
