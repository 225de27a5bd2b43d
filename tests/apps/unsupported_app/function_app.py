"""Test app: an Event Hubs trigger, which the local host does not run (start must fail clearly)."""

import azure.functions as func

app = func.FunctionApp()


@app.route(route="ok")
def ok(req: func.HttpRequest) -> str:
    return "ok"


@app.event_hub_message_trigger(arg_name="event", event_hub_name="telemetry", connection="EventHubConnection")
def on_telemetry(event: func.EventHubEvent) -> None:
    pass
