"""Send Hello Cities start requests to the app's Storage queue and optionally wait for their outputs.

    python producer.py chaining                     # one request, prints its instance id
    python producer.py fanout --count 100           # 100 requests, progress bar on stderr
    python producer.py fanout --cities Oslo Lima --wait

Settings, first found wins: command-line options, then environment variables (AzureWebJobsStorage,
HELLO_CITIES_QUEUE, HELLO_CITIES_HOST_URL), then local.settings.json next to this file, like the
Functions host resolves them. Exit status: 0 done, 1 failure (storage or host unreachable, a run
failed, timeout), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ServiceRequestError
from azure.storage.queue import LinearRetry, QueueClient
from tqdm import tqdm

from hello_cities.catalog import ORCHESTRATIONS
from hello_cities.messages import (
    MAX_REQUEST_ID_LENGTH,
    InvalidMessageError,
    encode_start_message,
    instance_id_for,
    validate_request_id,
)
from hello_cities.settings import DEFAULT_QUEUE, QUEUE_SETTING, STORAGE_CONNECTION_SETTING
from hello_cities.validation import MAX_CITIES, InvalidInputError, validate_cities

HOST_URL_SETTING = "HELLO_CITIES_HOST_URL"
DEFAULT_HOST_URL = "http://localhost:7071"
LOCAL_SETTINGS = Path(__file__).resolve().parent / "local.settings.json"
#: Azure Storage queue messages hold at most 64 KiB (after base64).
MAX_MESSAGE_BYTES = 64 * 1024
MAX_COUNT = 1_000_000
DEFAULT_TIMEOUT_SECONDS = 60.0
_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_TERMINAL_FAILURES = frozenset({"Failed", "Terminated", "Canceled"})


class ProducerError(Exception):
    """A failure to report as one line on stderr (exit status 1)."""


@dataclass(frozen=True)
class Settings:
    """Where to send requests and where to poll for their status."""

    connection_string: str
    queue_name: str
    host_url: str


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="producer.py",
        description="Send Hello Cities start requests to the Storage queue the app listens on.",
    )
    parser.add_argument(
        "orchestration", choices=[o.short_name for o in ORCHESTRATIONS], help="which orchestration to start"
    )
    parser.add_argument("--count", type=int, default=1, metavar="N", help="number of requests to send (default 1)")
    parser.add_argument(
        "--cities", nargs="+", metavar="CITY", help=f"cities to greet instead of the defaults (1 to {MAX_CITIES})"
    )
    parser.add_argument("--wait", action="store_true", help="wait for every run to finish and print its output")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="S",
        help=f"seconds --wait waits in total (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument("--queue", metavar="NAME", help=f"queue name (default: {QUEUE_SETTING} or {DEFAULT_QUEUE})")
    parser.add_argument(
        "--connection-string",
        metavar="CS",
        help=f"storage connection string (default: {STORAGE_CONNECTION_SETTING} from the environment or "
        "local.settings.json)",
    )
    parser.add_argument(
        "--host-url",
        metavar="URL",
        help=f"Functions host base URL for --wait (default: {HOST_URL_SETTING} or {DEFAULT_HOST_URL})",
    )
    parser.add_argument(
        "--request-id",
        metavar="ID",
        help=f"request id (at most {MAX_REQUEST_ID_LENGTH} characters; only with --count 1); default: a random one",
    )
    return parser


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject argument combinations argparse cannot express (exits with status 2)."""
    if not 1 <= args.count <= MAX_COUNT:
        parser.error(f"--count must be from 1 to {MAX_COUNT}, got {args.count}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.cities is not None:
        try:
            validate_cities(args.cities)
        except InvalidInputError as error:
            parser.error(f"--cities: {error}")
    if args.request_id is not None:
        if args.count != 1:
            parser.error("--request-id needs --count 1 (each request needs its own id)")
        try:
            validate_request_id(args.request_id)
        except InvalidMessageError as error:
            parser.error(f"--request-id: {error}")
    if args.queue is not None and not _QUEUE_NAME.match(args.queue):
        parser.error(f"--queue: {args.queue!r} is not a valid queue name (3-63 lowercase letters, digits, hyphens)")
    if args.host_url is not None and urllib.parse.urlsplit(args.host_url).scheme not in ("http", "https"):
        parser.error(f"--host-url must be an http(s) URL, got {args.host_url!r}")
    if args.connection_string is not None:
        try:
            QueueClient.from_connection_string(args.connection_string, DEFAULT_QUEUE)
        except ValueError:
            parser.error("--connection-string is not a valid storage connection string")


def load_local_settings(path: Path = LOCAL_SETTINGS) -> dict[str, str]:
    """The Values of local.settings.json, or {} if the file does not exist."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ProducerError(f"cannot read {path}: {error}") from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        return {}
    return {str(key): str(value) for key, value in values.items() if value is not None}


def resolve_settings(
    args: argparse.Namespace, environ: Mapping[str, str], local_settings: Mapping[str, str]
) -> Settings:
    """Options first, then the environment, then local.settings.json (the environment wins, as in the host)."""

    def pick(option: str | None, name: str, default: str | None) -> str | None:
        for value in (option, environ.get(name), local_settings.get(name)):
            if value is not None and value.strip():
                return value.strip()
        return default

    connection_string = pick(args.connection_string, STORAGE_CONNECTION_SETTING, None)
    if connection_string is None:
        raise ProducerError(
            f"no storage connection string: pass --connection-string or set {STORAGE_CONNECTION_SETTING} "
            f"(environment or {LOCAL_SETTINGS.name})"
        )
    queue_name = pick(args.queue, QUEUE_SETTING, DEFAULT_QUEUE) or DEFAULT_QUEUE
    host_url = pick(args.host_url, HOST_URL_SETTING, DEFAULT_HOST_URL) or DEFAULT_HOST_URL
    return Settings(connection_string, queue_name, host_url.rstrip("/"))


def _open_queue(settings: Settings) -> QueueClient:
    try:
        # Few, quick retries: a local emulator is either there or not, and the user is waiting.
        return QueueClient.from_connection_string(
            settings.connection_string,
            settings.queue_name,
            retry_policy=LinearRetry(backoff=1, random_jitter_range=0, retry_total=1),
            connection_timeout=5,
        )
    except ValueError as error:
        raise ProducerError(f"invalid storage connection string: {error}") from None


def _storage_endpoint(queue: QueueClient) -> str:
    return f"{queue.scheme}://{queue.primary_hostname}"


def _storage_failure(queue: QueueClient, doing: str, error: AzureError) -> ProducerError:
    """One clear line for a failed queue call: unreachable storage says how to start it."""
    if isinstance(error, ServiceRequestError):
        return ProducerError(
            f"cannot reach the storage queue endpoint {_storage_endpoint(queue)}: is Azurite running? "
            "Start it (and the app) with `make run`"
        )
    return ProducerError(f"cannot {doing} queue {queue.queue_name!r}: {_first_line(error)}")


def ensure_queue(queue: QueueClient) -> None:
    """Create the queue if it does not exist; ProducerError naming the endpoint if storage is unreachable."""
    try:
        queue.create_queue()
    except ResourceExistsError:
        pass
    except AzureError as error:
        raise _storage_failure(queue, "use", error) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def encode_for_queue(message_json: str) -> str:
    """Base64 text of a message, as the host's default messageEncoding expects."""
    return base64.b64encode(message_json.encode("utf-8")).decode("ascii")


def send_requests(queue: QueueClient, args: argparse.Namespace) -> list[str]:
    """Send args.count start messages; print and return their instance ids in sending order."""
    instance_ids: list[str] = []
    with tqdm(total=args.count, desc="sending", unit="msg", file=sys.stderr, disable=args.count == 1) as progress:
        for _ in range(args.count):
            request_id = args.request_id or uuid.uuid4().hex
            payload = encode_for_queue(encode_start_message(args.orchestration, request_id, args.cities))
            if len(payload) > MAX_MESSAGE_BYTES:
                raise ProducerError(
                    f"the message is {len(payload)} bytes after base64, above the queue limit of {MAX_MESSAGE_BYTES}; "
                    "send fewer or shorter cities (or use the HTTP starter)"
                )
            try:
                queue.send_message(payload)
            except AzureError as error:
                raise _storage_failure(queue, "send to", error) from None
            instance_id = instance_id_for(request_id)
            instance_ids.append(instance_id)
            _emit(instance_id)
            progress.update()
    return instance_ids


def _emit(line: str, stream: Any = None) -> None:
    """Print a line without tearing a progress bar, flushed so pipes see it at once."""
    stream = stream or sys.stdout
    tqdm.write(line, file=stream)
    stream.flush()


def status_url(host_url: str, instance_id: str) -> str:
    """The Durable HTTP API status URL of an instance."""
    quoted = urllib.parse.quote(instance_id, safe="")
    return f"{host_url}/runtime/webhooks/durabletask/instances/{quoted}?showInput=false"


def fetch_status(host_url: str, instance_id: str) -> dict[str, Any] | None:
    """The instance's status object, or None while the host does not know it yet (404)."""
    request = urllib.request.Request(status_url(host_url, instance_id), headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        if error.code == 500:
            # Failed instances may be reported as 500 with the status object as body.
            body = error.read()
        else:
            raise ProducerError(f"the host answered {error.code} for {instance_id}: {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ProducerError(
            f"cannot reach the Functions host at {host_url} ({reason}): is it running? Start it with `make run`"
        ) from None
    try:
        status = json.loads(body)
    except ValueError:
        raise ProducerError(f"the host answered non-JSON status for {instance_id}") from None
    if not isinstance(status, dict):
        raise ProducerError(f"the host answered an unexpected status for {instance_id}: {status!r}")
    return status


def wait_for_outputs(host_url: str, instance_ids: Sequence[str], timeout: float) -> int:
    """Poll until every instance finished; print each output; 0 if all completed, else 1."""
    deadline = time.monotonic() + timeout
    pending = list(instance_ids)
    failures = 0
    interval = 0.2
    with tqdm(total=len(pending), desc="completed", unit="run", file=sys.stderr, disable=len(pending) == 1) as progress:
        while pending:
            still_pending: list[str] = []
            for instance_id in pending:
                status = fetch_status(host_url, instance_id)
                runtime_status = status.get("runtimeStatus") if status else None
                if status is None or runtime_status not in ("Completed", *_TERMINAL_FAILURES):
                    still_pending.append(instance_id)
                    continue
                output = json.dumps(status.get("output"), ensure_ascii=False)
                if runtime_status == "Completed":
                    _emit(f"{instance_id}: {output}")
                else:
                    failures += 1
                    _emit(f"error: {instance_id} {runtime_status}: {output}", sys.stderr)
                progress.update()
            pending = still_pending
            if not pending:
                break
            if time.monotonic() >= deadline:
                shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
                raise ProducerError(f"timed out after {timeout:g} s waiting for {len(pending)} run(s): {shown}")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 1.0)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the producer; returns the exit status (argparse exits with 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    try:
        settings = resolve_settings(args, os.environ, load_local_settings())
        queue = _open_queue(settings)
        with queue:
            ensure_queue(queue)
            instance_ids = send_requests(queue, args)
        if not args.wait:
            return 0
        return wait_for_outputs(settings.host_url, instance_ids, args.timeout)
    except ProducerError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
