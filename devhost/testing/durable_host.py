"""DurableHost: what the ``durable_host`` fixture hands a test, a running devhost seen through its public APIs.

Everything goes through the surfaces an app and its operators use in Azure too (the app's HTTP routes, the
Durable HTTP management API, the SDK's own DurableOrchestrationClient, storage queues, the admin route
that runs a timer function), plus one devhost-only route for virtual time.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devhost.bindings.storage import expand_connection_string
from devhost.config import AppConfig
from devhost.durable.client_binding import build_client_binding
from devhost.management import MANAGEMENT_PREFIX, RPC_PREFIX
from devhost.testing.host_process import HostProcess

#: runtimeStatus values of an instance that has ended.
ENDED = frozenset({"Completed", "Failed", "Terminated"})
#: Rounds of terminating running instances before a test, at most (new ones may start meanwhile).
PURGE_ROUNDS = 20
#: How long one HTTP call to the host may take.
HTTP_TIMEOUT_S = 60.0


class DurableHostError(AssertionError):
    """A durable_host call failed; the message says what the host answered (an AssertionError: the test fails)."""


@dataclass(frozen=True)
class HttpResult:
    """An HTTP answer: status, headers and the raw body (``.text`` and ``.json()`` decode it)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def reason(self) -> str:
        """An error answer's message (the management API's "message"), else the body text."""
        try:
            body = self.json()
        except ValueError:
            return self.text
        return str(body.get("message") or self.text) if isinstance(body, dict) else self.text

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


def _request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> HttpResult:
    request = urllib.request.Request(url, data=body, method=method.upper(), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return HttpResult(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpResult(error.code, dict(error.headers.items()), error.read())


class DurableHost:
    """A running devhost for one app (see docs/testing.md). Methods are synchronous; ``client`` is async."""

    def __init__(self, process: HostProcess, config: AppConfig, settings: dict[str, str]) -> None:
        self.process = process
        self.config = config
        #: The app settings the host runs with (environment over local.settings.json Values).
        self.settings = settings
        self._log_start = 0

    # ---------------------------------------------------------------- per test
    def begin_test(self) -> None:
        """Start a test: purge every instance (ending running ones first) and restart the log window."""
        self._purge_all()
        self._log_start = len(self.process.lines)

    @property
    def origin(self) -> str:
        """http://127.0.0.1:PORT of the functions port."""
        return self.process.origin

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address."""
        return f"http://127.0.0.1:{self.process.dashboard_port}"

    @property
    def task_hub(self) -> str:
        """The task hub name (host.json extensions.durableTask.hubName)."""
        return self.config.host.durable.hub_name

    @property
    def logs(self) -> list[str]:
        """The host's output lines since this test began."""
        return self.process.lines[self._log_start :]

    # ---------------------------------------------------------------- durable
    @cached_property
    def client(self) -> df.DurableOrchestrationClient:
        """The SDK's own DurableOrchestrationClient, bound to this host (its methods are coroutines)."""
        binding = build_client_binding(
            self.origin + MANAGEMENT_PREFIX, f"{self.origin}{RPC_PREFIX}/", self.task_hub, None
        )
        return df.DurableOrchestrationClient(binding)

    def _management(self, method: str, path: str, body: Any = None, **query: str) -> HttpResult:
        url = f"{self.origin}{MANAGEMENT_PREFIX}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        return _request(method, url, data, {"Content-Type": "application/json"} if data is not None else None)

    def start(self, name: str, input: Any = None, instance_id: str | None = None) -> str:
        """Start orchestrator `name` with `input` (any JSON value); returns the instance id."""
        path = f"/orchestrators/{urllib.parse.quote(name, safe='')}"
        if instance_id is not None:
            path += "/" + urllib.parse.quote(instance_id, safe="")
        answer = self._management("POST", path, input)
        if answer.status != 202:
            raise _failed(f"starting orchestrator '{name}'", answer)
        return str(answer.json()["id"])

    def status(self, instance_id: str, history: bool = False) -> DurableOrchestrationStatus | None:
        """The instance's status as the SDK reads it (None when there is no such instance)."""
        query = {"showHistory": "true", "showHistoryOutput": "true"} if history else {}
        answer = self._management("GET", f"/instances/{urllib.parse.quote(instance_id, safe='')}", **query)
        if answer.status == 404:
            return None
        if answer.status not in (200, 202):  # 202 while it runs, as the extension answers
            raise _failed(f"reading instance '{instance_id}'", answer)
        return DurableOrchestrationStatus.from_json(answer.json())

    def wait(self, instance_id: str, timeout: float = 30) -> DurableOrchestrationStatus:
        """Wait until the instance ends (Completed, Failed or Terminated); fails the test with its history
        when it does not end within timeout seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            status = self.status(instance_id)
            if status is not None and status.runtime_status is not None and status.runtime_status.value in ENDED:
                return status
            if time.monotonic() >= deadline:
                raise DurableHostError(self._not_ended(instance_id, timeout))
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _not_ended(self, instance_id: str, timeout: float) -> str:
        path = f"/instances/{urllib.parse.quote(instance_id, safe='')}"
        answer = self._management("GET", path, showHistory="true", showHistoryOutput="true")
        if answer.status == 404:
            return f"instance '{instance_id}' does not exist (waited {timeout} s)"
        body = answer.json() or {}
        lines = [f"instance '{instance_id}' did not end within {timeout} s; it is {body.get('runtimeStatus')}."]
        lines.append("History:")
        for event in body.get("historyEvents") or []:
            details = {k: v for k, v in event.items() if k not in ("EventType", "Timestamp")}
            lines.append(f"  {event.get('Timestamp')} {event.get('EventType')} {json.dumps(details)}")
        return "\n".join(lines)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Send external event `name` with `data` (any JSON value) to the instance."""
        path = f"/instances/{urllib.parse.quote(instance_id, safe='')}/raiseEvent/{urllib.parse.quote(name, safe='')}"
        answer = self._management("POST", path, data)
        if answer.status != 202:
            raise _failed(f"raising '{name}' on '{instance_id}'", answer)

    def advance(self, by: timedelta | float) -> None:
        """Virtual time: move the task hub's clock forward by `by` (a timedelta or seconds). Durable timers
        that come due fire at once and ``context.current_utc_datetime`` moves with it."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        answer = _request(
            "POST",
            f"{self.origin}/admin/devhost/clock",
            json.dumps({"seconds": seconds}).encode(),
            {"Content-Type": "application/json"},
        )
        if answer.status != 200:
            raise _failed(f"advancing the clock by {seconds} s", answer)

    def _purge_all(self) -> None:
        # Purging takes ended instances only (as in Azure): the ones still going are terminated first.
        for _ in range(PURGE_ROUNDS):
            listing = self._management("GET", "/instances", runtimeStatus="Pending,Running,Suspended,ContinuedAsNew")
            running = listing.json() if listing.status == 200 else None
            if not running:
                break
            for item in running:
                path = f"/instances/{urllib.parse.quote(item['instanceId'], safe='')}/terminate"
                self._management("POST", path, reason="purged between tests")
        else:
            raise DurableHostError(f"instances still running after {PURGE_ROUNDS} rounds of terminating: {running}")
        answer = self._management("DELETE", "/instances", createdTimeFrom="1970-01-01T00:00:00Z")
        if answer.status not in (200, 404):
            raise _failed("purging the instances between tests", answer)

    # ---------------------------------------------------------------- other triggers
    def http(self, method: str, route: str, json: Any = None, headers: dict[str, str] | None = None) -> HttpResult:
        """Call one of the app's HTTP functions: route as in @app.route (the /api prefix is added) or a path."""
        if route.startswith("/"):
            path = route
        else:
            prefix = self.config.host.route_prefix
            path = f"/{prefix}/{route}" if prefix else f"/{route}"
        body = None
        sent = dict(headers or {})
        if json is not None:
            body = _dumps(json)
            sent.setdefault("Content-Type", "application/json")
        return _request(method, self.origin + path, body, sent)

    def send_queue_message(self, queue: str, body: Any) -> None:
        """Put a message on a storage queue of the app's AzureWebJobsStorage (text, bytes, or a JSON value),
        encoded as host.json's queues.messageEncoding says (base64 by default)."""
        text = body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else _dumps(body).decode()
        policy = TextBase64EncodePolicy() if self.config.host.queues.message_encoding == "base64" else None
        with QueueClient.from_connection_string(
            self.storage_connection_string, queue, message_encode_policy=policy
        ) as client:
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            client.send_message(text)

    @property
    def storage_connection_string(self) -> str:
        """AzureWebJobsStorage as the host uses it (the development storage shorthand expanded)."""
        setting = self.settings.get("AzureWebJobsStorage")
        if not setting:
            raise DurableHostError("the app has no AzureWebJobsStorage setting (local.settings.json Values)")
        return expand_connection_string(setting)

    def fire_timer(self, function_name: str) -> None:
        """Run timer function `function_name` now (POST /admin/functions/{name}, as the Functions host offers)."""
        # Body {} when there is no input, as learn.microsoft.com/azure/azure-functions/functions-manually-run-non-http
        # asks; the host answers 202 once the invocation ran.
        answer = _request(
            "POST", f"{self.origin}/admin/functions/{urllib.parse.quote(function_name, safe='')}", b"{}", {}
        )
        if answer.status == 404:
            raise DurableHostError(
                f"the app has no function '{function_name}'; it defines: {', '.join(self.function_names())}"
            )
        if answer.status != 202:
            raise _failed(f"running '{function_name}'", answer)

    def function_names(self) -> list[str]:
        """The names of the app's functions."""
        answer = _request("GET", f"{self.origin}/admin/functions")
        return sorted(str(item["name"]) for item in answer.json() or [])


def _failed(what: str, answer: HttpResult) -> DurableHostError:
    return DurableHostError(f"{what} failed (HTTP {answer.status}): {answer.reason}")


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
