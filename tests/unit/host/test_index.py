"""Indexing an app's functions: what the invoker needs, and clear failures for what we do not support."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.app.index import ParameterKind, TriggerKind, build_index
from devhost.errors import AppLoadError
from devhost.worker.indexing import IndexingError, index_functions

SETTINGS = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "QUEUE": "work-items", "Other": "x"}


def _index(app: func.FunctionRegister, settings: dict[str, str] | None = None):
    """What the host indexes: the worker's metadata of the app's functions."""
    metadata = [function.metadata() for function in index_functions(list(app.get_functions()))]
    return build_index(metadata, SETTINGS if settings is None else settings)


def test_kinds_parameters_and_resolved_settings():
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="start")
    @app.durable_client_input(client_name="client")
    async def start(req: func.HttpRequest, client, context: func.Context) -> func.HttpResponse:
        raise NotImplementedError

    @app.queue_trigger(arg_name="msg", queue_name="%QUEUE%", connection="AzureWebJobsStorage")
    @app.table_output(arg_name="row", table_name="t", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage, row: func.Out[str]) -> None:
        raise NotImplementedError

    @app.orchestration_trigger(context_name="context")
    def orchestrator(context: df.DurableOrchestrationContext):
        yield None

    @app.activity_trigger(input_name="name")
    def say(name: str) -> str:
        return name

    index = _index(app)
    kinds = {f.name: f.kind for f in index.functions}
    assert kinds == {
        "start": TriggerKind.HTTP,
        "work": TriggerKind.QUEUE,
        "orchestrator": TriggerKind.ORCHESTRATION,
        "say": TriggerKind.ACTIVITY,
    }
    start_fn = index.get("START")
    assert start_fn is not None and start_fn.is_async
    assert [(p.name, p.kind) for p in start_fn.parameters] == [
        ("req", ParameterKind.TRIGGER),
        ("client", ParameterKind.DURABLE_CLIENT),
        ("context", ParameterKind.CONTEXT),
    ]
    work_fn = index.get("work")
    assert work_fn is not None
    assert work_fn.trigger.get("queueName") == "work-items"
    assert work_fn.trigger.connection_string == "UseDevelopmentStorage=true"
    row = next(p for p in work_fn.parameters if p.name == "row")
    assert row.kind is ParameterKind.OUTPUT and row.binding is not None and row.binding.type == "table"
    assert len(index.functions) == 4


def test_unsupported_trigger_names_function_and_binding():
    app = func.FunctionApp()

    @app.event_hub_message_trigger(arg_name="event", event_hub_name="hub", connection="EH")
    def on_event(event: func.EventHubEvent) -> None:
        raise NotImplementedError

    with pytest.raises(AppLoadError) as error:
        _index(app)
    message = str(error.value)
    assert "'on_event'" in message and "'event'" in message and "eventHubTrigger" in message
    assert "not supported" in message


def test_unsupported_binding_names_function_and_binding():
    app = func.FunctionApp()

    @app.route(route="x")
    @app.cosmos_db_input(arg_name="docs", database_name="db", container_name="c", connection="COSMOS")
    def read_docs(req: func.HttpRequest, docs: func.DocumentList) -> str:
        return ""

    with pytest.raises(AppLoadError, match=r"function 'read_docs': binding 'docs' of type 'cosmosDB'"):
        _index(app)


def test_missing_setting_and_connection_are_clear():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%MISSING_QUEUE%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        raise NotImplementedError

    with pytest.raises(AppLoadError, match="'MISSING_QUEUE'"):
        _index(app)

    other = func.FunctionApp()

    @other.queue_trigger(arg_name="msg", queue_name="q", connection="NoSuchStorage")
    def work2(msg: func.QueueMessage) -> None:
        raise NotImplementedError

    with pytest.raises(AppLoadError, match="'NoSuchStorage' is not set"):
        _index(other)


def test_parameters_must_match_bindings():
    app = func.FunctionApp()

    @app.route(route="x")
    def stray(req: func.HttpRequest, extra: str) -> str:
        return ""

    with pytest.raises(IndexingError, match="parameter 'extra' has no binding"):
        _index(app)


def test_output_parameters_must_be_func_out():
    app = func.FunctionApp()

    @app.route(route="x")
    @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def wrong(req: func.HttpRequest, msg: str) -> str:
        return ""

    with pytest.raises(IndexingError, match=r"annotate it as func.Out\[...\]"):
        _index(app)


def test_connection_falls_back_to_azurewebjobs_prefix():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="Other")
    def work(msg: func.QueueMessage) -> None:
        raise NotImplementedError

    index = _index(app, {"AzureWebJobsOther": "UseDevelopmentStorage=true"})
    assert index.functions[0].trigger.connection_string == "UseDevelopmentStorage=true"
