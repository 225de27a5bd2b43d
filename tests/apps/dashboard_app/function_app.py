"""A small v2 app for the dashboard tests: an activity, a 5-city fan-out, a chain, a sub-orchestration,
an orchestration waiting for an external event, one that fails, and a counter entity."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

CITIES = ["Tokyo", "Seattle", "London", "Cairo", "Lima"]


@app.activity_trigger(input_name="city")
async def say_hello(city: str) -> str:
    # Long enough for parallel runs to overlap visibly on the timeline, short enough for fast tests.
    await asyncio.sleep(0.2)
    return f"Hello {city}!"


@app.activity_trigger(input_name="message")
def explode(message: str) -> str:
    raise ValueError(message)


@app.orchestration_trigger(context_name="context")
def fan_out_cities(context: df.DurableOrchestrationContext):
    cities = context.get_input() or CITIES
    return (yield context.task_all([context.call_activity(say_hello, city) for city in cities]))


@app.orchestration_trigger(context_name="context")
def chain_cities(context: df.DurableOrchestrationContext):
    results = []
    for city in context.get_input() or CITIES[:3]:
        results.append((yield context.call_activity(say_hello, city)))
    return results


@app.orchestration_trigger(context_name="context")
def parent_of_chain(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("chain_cities", ["Oslo"], f"{context.instance_id}-child")
    return {"child": child}


@app.orchestration_trigger(context_name="context")
def wait_for_approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting for Approval"})
    approval = yield context.wait_for_external_event("Approval")
    context.set_custom_status({"stage": "done"})
    return {"approval": approval}


@app.orchestration_trigger(context_name="context")
def quick(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity(explode, "no such city")
    return "unreachable"


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    state = context.get_state(lambda: {"count": 0, "operations": 0})
    operation = context.operation_name
    if operation == "add":
        state["count"] += context.get_input()
    elif operation == "reset":
        state["count"] = 0
    state["operations"] += 1
    context.set_state(state)
