"""Test app: messageEncoding "none" for the trigger and the output."""

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%QUEUE_IN%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%QUEUE_OUT%", connection="AzureWebJobsStorage")
def shout(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(msg.get_body().decode().upper())
