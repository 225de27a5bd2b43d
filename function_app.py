"""Hello Cities: Durable Functions chaining and fan-out/fan-in, started over HTTP or a Storage queue.

Runs unchanged under `func start`, in Azure, and under the local `devhost`. The pure logic (validation,
queue messages, the results collector) lives in the `hello_cities` package next to this file.
"""

import json
import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from hello_cities.catalog import ACTIVITY_NAME, CHAINING, FAN_OUT_FAN_IN, Orchestration
from hello_cities.collector import CollectorError, PassReport, RecordedCache, ScanMemory, run_collection_pass
from hello_cities.durable_source import durable_lister
from hello_cities.messages import InvalidMessageError, StartRequest, parse_start_message
from hello_cities.results_query import InvalidQueryError, encode_continuation_token, parse_results_query
from hello_cities.results_store import TableResultStore, open_result_store
from hello_cities.settings import (
    COLLECTOR_SCHEDULE_SETTING,
    QUEUE_SETTING,
    STORAGE_CONNECTION_SETTING,
    results_table_name,
    storage_connection_string,
)
from hello_cities.validation import InvalidInputError, cities_or_default, parse_start_body

# Anonymous like the Durable Task Scheduler "Hello Cities" quickstart: the starters are meant to be
# called with curl locally. Use func.AuthLevel.FUNCTION before exposing the app publicly.
app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

logger = logging.getLogger(__name__)
# Ids recorded by this worker process: lets repeated passes skip rows they already inserted.
_recorded = RecordedCache()
# What this worker's last pass saw: passes in quick succession rescan less (see hello_cities/collector.py).
_scan_memory = ScanMemory()


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    """Activity: greet one city."""
    logging.info("Saying hello to %s.", city)
    return f"Hello {city}!"


@app.orchestration_trigger(context_name="context")
def chaining_orchestration(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    """Greet the cities one after another (default: Tokyo, Seattle, London)."""
    # Invalid input fails the orchestration here, before anything is scheduled.
    cities = cities_or_default(context.get_input(), CHAINING.default_cities)
    greetings: list[str] = []
    for city in cities:
        greeting = yield context.call_activity(ACTIVITY_NAME, city)
        greetings.append(greeting)
    return greetings


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in_orchestration(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    """Greet the cities in parallel and gather the greetings in input order (default: five cities)."""
    cities = cities_or_default(context.get_input(), FAN_OUT_FAN_IN.default_cities)
    tasks = [context.call_activity(ACTIVITY_NAME, city) for city in cities]
    greetings: list[str] = yield context.task_all(tasks)
    return greetings


def _json_response(body: dict[str, Any], status_code: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status_code, mimetype="application/json")


async def _start_over_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, orchestration: Orchestration
) -> func.HttpResponse:
    try:
        orchestration_input = parse_start_body(req.get_body())
    except InvalidInputError as error:
        return _json_response({"error": str(error)}, 400)
    instance_id = await client.start_new(orchestration.function_name, None, orchestration_input)
    logging.info("Started %s orchestration with ID = '%s'.", orchestration.short_name, instance_id)
    return client.create_check_status_response(req, instance_id)


@app.route(route="StartChaining", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_chaining(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """HTTP starter: an empty body runs the defaults, `{"cities": [...]}` customises; 202 + status links."""
    return await _start_over_http(req, client, CHAINING)


@app.route(route="StartFanOutFanIn", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_fan_out_fan_in(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """HTTP starter of the fan-out/fan-in orchestration (same body rules as StartChaining)."""
    return await _start_over_http(req, client, FAN_OUT_FAN_IN)


async def _already_started(client: df.DurableOrchestrationClient, request: StartRequest) -> bool:
    status = await client.get_status(request.instance_id)
    if not status:
        return False
    if status.name and status.name.lower() != request.orchestration.function_name:
        logging.warning(
            "Request %s asks for %s but instance '%s' already runs %s; not starting another.",
            request.request_id,
            request.orchestration.short_name,
            request.instance_id,
            status.name,
        )
    runtime_status = status.runtime_status.value if status.runtime_status else "unknown"
    logging.info(
        "Instance '%s' already exists (%s); duplicate start request ignored.", request.instance_id, runtime_status
    )
    return True


@app.queue_trigger(arg_name="message", queue_name=f"%{QUEUE_SETTING}%", connection=STORAGE_CONNECTION_SETTING)
@app.durable_client_input(client_name="client")
async def start_from_queue(message: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    """Queue starter: one orchestration per requestId, however often the message arrives."""
    try:
        request = parse_start_message(message.get_body())
    except InvalidMessageError as error:
        # Raising makes the host retry and, after maxDequeueCount, move the message to <queue>-poison.
        logging.error("Rejected queue message %s (dequeue count %s): %s", message.id, message.dequeue_count, error)
        raise
    if await _already_started(client, request):
        return
    try:
        await client.start_new(request.orchestration.function_name, request.instance_id, request.input)
    except Exception:
        # A concurrent duplicate may have won the race; then the request is served, else retry it.
        if await _already_started(client, request):
            return
        raise
    logging.info(
        "Started %s orchestration with ID = '%s' for request %s.",
        request.orchestration.short_name,
        request.instance_id,
        request.request_id,
    )


async def _collect(client: df.DurableOrchestrationClient, store: TableResultStore) -> PassReport:
    report = await run_collection_pass(durable_lister(client), store, _recorded, memory=_scan_memory)
    # A pass that recorded nothing says so at DEBUG: an idle app should not print a line every 10 s.
    logging.log(
        logging.INFO if report.recorded else logging.DEBUG,
        "Collected results%s: %d new, %d already recorded, %d instances seen in %d queries, %d still running; "
        "watermark %s.",
        " (quick pass)" if report.quick else "",
        report.recorded,
        report.already_recorded,
        report.instances_seen,
        report.queries,
        report.not_terminal,
        report.watermark.isoformat(),
    )
    return report


@app.timer_trigger(arg_name="timer", schedule=f"%{COLLECTOR_SCHEDULE_SETTING}%", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def collect_results(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Timer: record the output of every newly completed run exactly once."""
    if timer.past_due:
        logging.info("The results collector timer is past due.")
    async with open_result_store(storage_connection_string(), results_table_name()) as store:
        await _collect(client, store)


@app.route(route="results", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_results(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Collect, then list recorded results: `orchestration`, `since`, `top`, `continuationToken`."""
    try:
        query = parse_results_query(dict(req.params))
    except InvalidQueryError as error:
        return _json_response({"error": str(error)}, 400)
    async with open_result_store(storage_connection_string(), results_table_name()) as store:
        try:
            await _collect(client, store)
        except CollectorError as error:
            logging.error("Results collection failed: %s", error)
            return _json_response({"error": f"results collection failed: {error}"}, 500)
        page = await store.query_results(query.top, query.orchestration, query.since, query.continuation_token)
    body = {
        "results": [result.to_json() for result in page.results],
        "continuationToken": encode_continuation_token(page.continuation_token),
    }
    return _json_response(body, 200)
