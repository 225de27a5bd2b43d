# A typical v2 app, written the way the public docs show it: a FunctionApp with its own HTTP function,
# plus a Blueprint from another module registered with register_functions.
import logging

import azure.functions as func
from http_blueprint import bp

app = func.FunctionApp()

app.register_functions(bp)


@app.function_name(name="HttpTrigger1")
@app.route(route="hello")
def test_function(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")

    name = req.params.get("name")
    if not name:
        try:
            req_body = req.get_json()
        except ValueError:
            pass
        else:
            name = req_body.get("name")

    if name:
        return func.HttpResponse(f"Hello, {name}. This HTTP triggered function executed successfully.")
    else:
        return func.HttpResponse(
            "This HTTP triggered function executed successfully. Pass a name in the query string or in the "
            "request body for a personalized response.",
            status_code=200,
        )


@app.queue_trigger(arg_name="azqueue", queue_name="%ORDERS_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="receipt", queue_name="%RECEIPTS_QUEUE%", connection="AzureWebJobsStorage")
def queue_trigger(azqueue: func.QueueMessage, receipt: func.Out[str]):
    logging.info("Python Queue trigger processed a message: %s", azqueue.get_body().decode("utf-8"))
    receipt.set("receipt for " + azqueue.get_body().decode("utf-8"))
