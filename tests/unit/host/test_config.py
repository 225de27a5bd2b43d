"""host.json and local.settings.json parsing and validation."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.config import apply_app_settings, load_config, parse_timespan
from devhost.errors import ConfigError


def _app(tmp_path: Path, host: object, settings: object | None = None) -> Path:
    (tmp_path / "host.json").write_text(json.dumps(host) if not isinstance(host, str) else host)
    if settings is not None:
        (tmp_path / "local.settings.json").write_text(json.dumps(settings))
    return tmp_path


def test_defaults(tmp_path: Path):
    config = load_config(_app(tmp_path, {"version": "2.0"}), environ={})
    queues = config.host.queues
    assert (queues.batch_size, queues.new_batch_threshold, queues.max_dequeue_count) == (16, 8, 5)
    assert queues.visibility_timeout == timedelta(0)
    assert queues.max_polling_interval == timedelta(seconds=2)
    assert queues.message_encoding == "base64"
    assert config.host.durable.hub_name == "TestHubName"
    # "10X the number of processors" on Premium and Dedicated (Durable Functions host.json reference).
    cores = os.cpu_count() or 1
    assert (config.host.durable.max_concurrent_activities, config.host.durable.max_concurrent_orchestrations) == (
        10 * cores,
        10 * cores,
    )
    assert config.host.function_timeout == timedelta(minutes=30)  # Premium and Dedicated plans' default
    assert config.host.route_prefix == "api"
    assert config.local.path is None


def test_known_settings_are_read_and_unknown_keys_tolerated(tmp_path: Path):
    host = {
        "version": "2.0",
        "functionTimeout": "00:10:00",
        "logging": {"logLevel": {"default": "Warning", "Function": "Information"}},
        "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
        "extensions": {
            "queues": {
                "batchSize": 4,
                "visibilityTimeout": "00:00:05",
                "maxDequeueCount": 2,
                "maxPollingInterval": 1500,
                "messageEncoding": "none",
                "someFutureSetting": True,
            },
            "durableTask": {
                "hubName": "%HUB%",
                "maxConcurrentActivityFunctions": 3,
                "maxConcurrentOrchestratorFunctions": 2,
                "storageProvider": {"type": "azureManaged", "connectionStringName": "DTS"},
            },
            "http": {"routePrefix": ""},
        },
    }
    config = load_config(_app(tmp_path, host), environ={"HUB": "MyHub"})
    queues = config.host.queues
    assert (queues.batch_size, queues.new_batch_threshold) == (4, 2)
    assert queues.visibility_timeout == timedelta(seconds=5)
    assert queues.max_polling_interval == timedelta(milliseconds=1500)
    assert queues.message_encoding == "none"
    durable = config.host.durable
    assert (durable.hub_name, durable.max_concurrent_activities, durable.max_concurrent_orchestrations) == (
        "MyHub",
        3,
        2,
    )
    assert durable.storage_provider == "azureManaged"
    assert config.host.function_timeout == timedelta(minutes=10)
    assert config.host.log_level == 30
    assert config.host.route_prefix == ""


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ({"version": "1.0"}, '"version" must be "2.0"'),
        ({"version": "2.0", "extensions": {"queues": {"batchSize": "16"}}}, "queues.batchSize: expected an integer"),
        ({"version": "2.0", "extensions": {"queues": {"batchSize": 64}}}, "must be between 1 and 32"),
        ({"version": "2.0", "extensions": {"queues": {"visibilityTimeout": "5s"}}}, "is not a TimeSpan"),
        ({"version": "2.0", "extensions": {"queues": {"messageEncoding": "utf8"}}}, '"base64" or "none"'),
        ({"version": "2.0", "extensions": {"durableTask": {"hubName": "a-b"}}}, "not a valid task hub name"),
        ({"version": "2.0", "extensions": {"durableTask": {"hubName": "%NOPE%"}}}, "'NOPE'"),
        ({"version": "2.0", "extensions": "yes"}, "extensions: expected an object"),
        ({"version": "2.0", "logging": {"logLevel": {"default": "Loud"}}}, "unknown level 'Loud'"),
        ({"version": "2.0", "functionTimeout": 300}, "functionTimeout"),
        ("{ not json", "not valid JSON (line 1"),
    ],
)
def test_invalid_host_json_names_path_and_problem(tmp_path: Path, host: object, fragment: str):
    app = _app(tmp_path, host)
    with pytest.raises(ConfigError) as error:
        load_config(app, environ={})
    assert str(app / "host.json") in str(error.value)
    assert fragment in str(error.value)


def test_missing_host_json(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"needs a host\.json"):
        load_config(tmp_path, environ={})


def test_local_settings_values_become_environment_but_environment_wins(tmp_path: Path):
    settings = {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "N": 5, "T": True}}
    environ = {"A": "from-env"}
    config = load_config(_app(tmp_path, {"version": "2.0"}, settings), environ=environ)
    assert environ == {"A": "from-env", "B": "from-file", "N": "5", "T": "true"}
    assert config.local.values["A"] == "from-file"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"IsEncrypted": True, "Values": {}}, '"IsEncrypted" is true'),
        ({"Values": ["a"]}, '"Values" must be an object'),
        ({"Values": {"X": {"nested": 1}}}, "Values.X must be a string"),
        ({"Values": {}, "Host": {"LocalHttpPort": "7071"}}, "Host.LocalHttpPort must be a port number"),
    ],
)
def test_invalid_local_settings(tmp_path: Path, settings: object, fragment: str):
    with pytest.raises(ConfigError, match=r"local\.settings\.json") as error:
        load_config(_app(tmp_path, {"version": "2.0"}, settings), environ={})
    assert fragment in str(error.value)


def test_apply_app_settings_keeps_existing():
    environ = {"X": "1"}
    apply_app_settings({"X": "2", "Y": "3"}, environ)
    assert environ == {"X": "1", "Y": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:02", timedelta(seconds=2)),
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:00:00.250", timedelta(milliseconds=250)),
    ],
)
def test_parse_timespan(text: str, expected: timedelta):
    assert parse_timespan(text, "x") == expected
