"""host.json and local.settings.json, read into frozen dataclasses and validated with clear messages."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from devhost.errors import ConfigError

HOST_JSON = "host.json"
LOCAL_SETTINGS_JSON = "local.settings.json"

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?$")
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,49}$")
_SETTING_REF = re.compile(r"%([^%]+)%")

# host.json "logging.logLevel" names (Microsoft.Extensions.Logging) -> Python levels.
_LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


@dataclass(frozen=True)
class QueueOptions:
    """host.json extensions.queues, with the Functions defaults (maxPollingInterval shortened locally)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = 5
    max_polling_interval: timedelta = timedelta(seconds=2)
    #: "base64" (the default) or "none".
    message_encoding: str = "base64"


#: maxConcurrentActivityFunctions and maxConcurrentOrchestratorFunctions when host.json sets none: "10X the
#: number of processors on the current machine" on the Premium and Dedicated plans (Durable Functions
#: host.json reference), the plans whose functionTimeout default applies too.
DEFAULT_CONCURRENCY = 10 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class DurableOptions:
    """host.json extensions.durableTask."""

    hub_name: str = "TestHubName"
    max_concurrent_activities: int = DEFAULT_CONCURRENCY
    max_concurrent_orchestrations: int = DEFAULT_CONCURRENCY
    #: storageProvider.type as written (None when absent); every provider is served by the local engine.
    storage_provider: str | None = None


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json the local host honours."""

    path: Path
    queues: QueueOptions = field(default_factory=QueueOptions)
    durable: DurableOptions = field(default_factory=DurableOptions)
    #: None when unlimited ("-1"); 30 minutes when host.json sets none.
    function_timeout: timedelta | None = timedelta(minutes=30)
    #: logging.logLevel.default as a Python level, None when absent.
    log_level: int | None = None
    #: extensions.http.routePrefix ("api" by default; "" serves routes at the root).
    route_prefix: str = "api"


@dataclass(frozen=True)
class LocalSettings:
    """local.settings.json: app settings (Values) and the Host section."""

    path: Path | None
    values: Mapping[str, str] = field(default_factory=dict)
    local_http_port: int | None = None
    cors: str | None = None


@dataclass(frozen=True)
class AppConfig:
    """Everything read from the app folder."""

    app_dir: Path
    host: HostConfig
    local: LocalSettings


#: functionTimeout when host.json sets none: the Premium and Dedicated plans' default (azure-functions-host
#: ScriptJobHostOptionsSetup.DefaultFunctionTimeout). "-1" means no limit, as on those plans.
DEFAULT_FUNCTION_TIMEOUT = timedelta(minutes=30)


def parse_timespan(value: object, where: str) -> timedelta:
    """Parse a .NET TimeSpan ("hh:mm:ss", "d.hh:mm:ss", "hh:mm:ss.fff"); raise ConfigError naming where."""
    if isinstance(value, str):
        match = _TIMESPAN.match(value.strip())
        if match:
            frac = match["frac"] or "0"
            return timedelta(
                days=int(match["days"] or 0),
                hours=int(match["h"]),
                minutes=int(match["m"]),
                seconds=int(match["s"]),
                microseconds=int(frac.ljust(6, "0")[:6]),
            )
    raise ConfigError(f'{where}: {value!r} is not a TimeSpan; write it as "hh:mm:ss" (for example "00:00:30")')


def _duration(value: object, where: str) -> timedelta:
    """A TimeSpan string or a number of milliseconds (older host.json schema)."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: expected a TimeSpan "hh:mm:ss" or milliseconds, got {value!r}')
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return timedelta(milliseconds=value)
    return parse_timespan(value, where)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the syntax"
        ) from exc


def _section(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = _get_ci(parent, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return value


def _get_ci(mapping: Mapping[str, Any], key: str) -> Any:
    """host.json keys are case-insensitive for the Functions host."""
    for k, v in mapping.items():
        if k.lower() == key.lower():
            return v
    return None


def _int(section: Mapping[str, Any], key: str, where: str, default: int, low: int, high: int | None = None) -> int:
    value = _get_ci(section, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{where}.{key}: must be {bounds}, got {value}")
    return value


def _str(section: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _get_ci(section, key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _queue_options(extensions: Mapping[str, Any], where: str) -> QueueOptions:
    section = _section(extensions, "queues", where)
    where = f"{where}.queues"
    batch_size = _int(section, "batchSize", where, 16, 1, 32)
    threshold = _int(section, "newBatchThreshold", where, batch_size // 2, 0)
    visibility = _get_ci(section, "visibilityTimeout")
    polling = _get_ci(section, "maxPollingInterval")
    encoding = _str(section, "messageEncoding", where) or "base64"
    if encoding.lower() not in ("base64", "none"):
        raise ConfigError(f'{where}.messageEncoding: must be "base64" or "none", got {encoding!r}')
    max_polling = timedelta(seconds=2) if polling is None else _duration(polling, f"{where}.maxPollingInterval")
    if max_polling < timedelta(milliseconds=100):
        raise ConfigError(f"{where}.maxPollingInterval: must be at least 100 ms, got {polling!r}")
    return QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=threshold,
        visibility_timeout=timedelta(0) if visibility is None else _duration(visibility, f"{where}.visibilityTimeout"),
        max_dequeue_count=_int(section, "maxDequeueCount", where, 5, 1),
        max_polling_interval=max_polling,
        message_encoding=encoding.lower(),
    )


def _durable_options(extensions: Mapping[str, Any], where: str, settings: Mapping[str, str]) -> DurableOptions:
    section = _section(extensions, "durableTask", where)
    where = f"{where}.durableTask"
    hub = _str(section, "hubName", where) or "TestHubName"
    hub = resolve_setting_refs(hub, settings, f"{where}.hubName")
    if not _HUB_NAME.match(hub):
        raise ConfigError(
            f"{where}.hubName: {hub!r} is not a valid task hub name; "
            "use 3-50 letters and digits, starting with a letter"
        )
    provider = _section(section, "storageProvider", where)
    provider_type = _str(provider, "type", f"{where}.storageProvider")
    return DurableOptions(
        hub_name=hub,
        max_concurrent_activities=_int(section, "maxConcurrentActivityFunctions", where, DEFAULT_CONCURRENCY, 1),
        max_concurrent_orchestrations=_int(
            section, "maxConcurrentOrchestratorFunctions", where, DEFAULT_CONCURRENCY, 1
        ),
        storage_provider=provider_type,
    )


def _log_level(host: Mapping[str, Any], where: str) -> int | None:
    logging_section = _section(host, "logging", where)
    levels = _section(logging_section, "logLevel", f"{where}.logging")
    default = _str(levels, "default", f"{where}.logging.logLevel")
    if default is None:
        return None
    level = _LOG_LEVELS.get(default.lower())
    if level is None:
        names = ", ".join(n.capitalize() for n in _LOG_LEVELS)
        raise ConfigError(f"{where}.logging.logLevel.default: unknown level {default!r}; use one of {names}")
    return level


def load_host_json(app_dir: Path, settings: Mapping[str, str]) -> HostConfig:
    """Read and validate app_dir/host.json; unknown keys are tolerated, wrong types of known ones are not."""
    path = app_dir / HOST_JSON
    if not path.is_file():
        raise ConfigError(
            f'{path}: not found; a Functions app folder needs a host.json (at least {{"version": "2.0"}})'
        )
    data = _read_json(path, "host.json")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    version = _get_ci(data, "version")
    if version is not None and version != "2.0":
        raise ConfigError(f'{path}: "version" must be "2.0" for the v2 programming model, got {version!r}')
    where = str(path)
    extensions = _section(data, "extensions", where)
    timeout_value = _get_ci(data, "functionTimeout")
    timeout: timedelta | None = DEFAULT_FUNCTION_TIMEOUT
    if timeout_value is not None:
        timeout = None if timeout_value in ("-1", -1) else parse_timespan(timeout_value, f"{where}: functionTimeout")
    http = _section(extensions, "http", f"{where}: extensions")
    prefix = _str(http, "routePrefix", f"{where}: extensions.http")
    return HostConfig(
        path=path,
        queues=_queue_options(extensions, f"{where}: extensions"),
        durable=_durable_options(extensions, f"{where}: extensions", settings),
        function_timeout=timeout,
        log_level=_log_level(data, f"{where}:"),
        route_prefix="api" if prefix is None else prefix.strip("/"),
    )


def load_local_settings(app_dir: Path) -> LocalSettings:
    """Read app_dir/local.settings.json (optional, like for `func start`)."""
    path = app_dir / LOCAL_SETTINGS_JSON
    if not path.is_file():
        return LocalSettings(path=None)
    data = _read_json(path, "local.settings.json")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    if data.get("IsEncrypted") is True:
        raise ConfigError(f'{path}: "IsEncrypted" is true; decrypt it (func settings decrypt) or set it to false')
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise ConfigError(f'{path}: "Values" must be an object of setting names to strings')
    values: dict[str, str] = {}
    for name, value in raw_values.items():
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise ConfigError(f"{path}: Values.{name} must be a string, got {type(value).__name__}; quote it")
    host = data.get("Host") or {}
    if not isinstance(host, dict):
        raise ConfigError(f'{path}: "Host" must be an object')
    port = host.get("LocalHttpPort")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ConfigError(f"{path}: Host.LocalHttpPort must be a port number (1-65535), got {port!r}")
    cors = host.get("CORS")
    if cors is not None and not isinstance(cors, str):
        raise ConfigError(f"{path}: Host.CORS must be a string of comma-separated origins, got {cors!r}")
    return LocalSettings(path=path, values=values, local_http_port=port, cors=cors)


def apply_app_settings(values: Mapping[str, str], environ: MutableMapping[str, str] | None = None) -> None:
    """Export local.settings.json Values as environment variables; variables already set win."""
    target = os.environ if environ is None else environ
    for name, value in values.items():
        target.setdefault(name, value)


def resolve_setting_refs(text: str, settings: Mapping[str, str], where: str) -> str:
    """Replace %Name% references with app settings; a missing setting is a ConfigError naming where."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in settings:
            return settings[name]
        raise ConfigError(
            f"{where}: app setting {name!r} (referenced as %{name}%) is not set; add it to "
            f"local.settings.json Values or the environment"
        )

    return _SETTING_REF.sub(replace, text)


def load_config(app_dir: Path, environ: MutableMapping[str, str] | None = None) -> AppConfig:
    """Read local.settings.json (exporting its Values) then host.json, which may reference settings."""
    if not app_dir.is_dir():
        raise ConfigError(f"{app_dir}: the app folder does not exist; pass --app-dir pointing at your function app")
    local = load_local_settings(app_dir)
    target = os.environ if environ is None else environ
    apply_app_settings(local.values, target)
    host = load_host_json(app_dir, dict(target))
    return AppConfig(app_dir=app_dir, host=host, local=local)
