"""bench/blob_trigger.py's app: a blob trigger whose latency is measured, a blob trigger on a container of
10,000 blobs that its pattern never matches (so each scan lists them all and invokes nothing), and an HTTP
ping whose latency shows whether those scans stall the host."""

import os
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.blob_trigger(arg_name="blob", path="%BENCH_NEW%/{name}", connection="AzureWebJobsStorage")
def on_new_blob(blob: func.InputStream) -> None:
    """Notes when it ran for which blob: the bench compares it with the upload time."""
    fired = time.time()
    with open(os.environ["BENCH_SEEN"], "a", encoding="utf-8") as seen:
        seen.write(f"{blob.name}\t{fired}\n")


@app.blob_trigger(arg_name="blob", path="%BENCH_BIG%/{name}.never", connection="AzureWebJobsStorage")
def on_big_container(blob: func.InputStream) -> None:
    """Never runs: the big container's blobs end in .txt; the scans are what is measured."""


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> str:
    return "pong"
