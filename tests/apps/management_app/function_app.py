"""A small Durable Functions app for the management API tests (Python v2 programming model)."""

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    """Greets each city in turn; the cities come from the input (default: three)."""
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("say_hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def wait_for_approval(context: df.DurableOrchestrationContext):
    """Waits for the "Approval" event and returns what it carried."""
    context.set_custom_status("waiting")
    approval = yield context.wait_for_external_event("Approval")
    return {"approved": approval}


@app.orchestration_trigger(context_name="context")
def always_fails(context: df.DurableOrchestrationContext):
    """Calls an activity that raises, so the instance ends Failed."""
    yield context.call_activity("explode", context.get_input())
    return "unreachable"


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    """Returns a greeting."""
    return f"Hello {city}!"


@app.activity_trigger(input_name="what")
def explode(what: str) -> str:
    """Always raises."""
    raise ValueError(f"boom: {what}")


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    """A counter entity: add, reset, get, delete."""
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "delete":
        context.destruct_on_exit()
        return
    if operation == "add":
        value += int(context.get_input())
    elif operation == "reset":
        value = 0
    elif operation == "get":
        context.set_result(value)
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def echo(context: df.DurableOrchestrationContext):
    """Returns its input at once (no activities): cheap instances for listing tests."""
    return context.get_input()
