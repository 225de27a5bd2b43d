"""Crash and storage-outage scenarios, shared by the reliability tests and `python -m tests.reliability.faults`.

One implementation, two sizes: the pytest suite runs a few hundred requests, the script thousands. A
`Rig` owns everything a scenario touches: its own Azurite (so it can be stopped and restarted on the same
ports with the same data), a host data directory, a unique queue and results table, and every host process
started (their output is kept across kills, to count activity executions).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from argparse import Namespace
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

import producer
from tests.support.azurite import REPO_ROOT, Azurite, start_azurite
from tests.support.devhost import DevHost, start_devhost
from tests.support.waiting import wait_until

#: (orchestration, cities or None for the defaults): the request mix, chosen at random per batch.
REQUEST_KINDS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("chaining", None),
    ("fanout", None),
    ("chaining", ("Oslo", "Lima")),
    ("fanout", ("Quito", "Cairo", "Rome", "Nairobi")),
)
DEFAULT_CITIES = {
    "chaining": ("Tokyo", "Seattle", "London"),
    "fanout": ("Tokyo", "Seattle", "London", "Paris", "Berlin"),
}
ACTIVITY_LINE = "Executing 'Functions.say_hello'"
OUTAGE_LINE = "storage unavailable"
#: Short queue lease, so messages a killed host held come back within seconds.
LEASE_SECONDS = 6


@dataclass(frozen=True)
class SentRequest:
    """One start request put on the queue."""

    instance_id: str
    orchestration: str
    cities: tuple[str, ...]

    @property
    def expected_output(self) -> list[str]:
        """The greetings this run must return, in order."""
        return [f"Hello {city}!" for city in self.cities]


@dataclass
class Restart:
    """One injected fault and how long the host took to make progress again."""

    what: str
    ready_s: float = 0.0
    recovery_s: float | None = None


@dataclass
class Report:
    """What a scenario observed."""

    scenario: str
    requests: int
    completed: int = 0
    lost: int = 0
    wrong_output: int = 0
    result_rows: int = 0
    duplicated_results: int = 0
    activity_executions: int = 0
    expected_activities: int = 0
    restarts: list[Restart] = field(default_factory=list)
    outage_log_lines: int = 0
    poisoned: int = 0
    queue_left: int = 0
    duration_s: float = 0.0
    #: Recorded result rows that are unexpected or hold a wrong output.
    bad_results: list[str] = field(default_factory=list)

    @property
    def re_executions(self) -> int:
        """Activity executions beyond one per scheduled activity (at-least-once redelivery)."""
        return self.activity_executions - self.expected_activities


def _rows(reports: Sequence[Report]) -> list[list[str]]:
    rows = [
        [
            "scenario",
            "requests",
            "completed",
            "lost",
            "dup results",
            "result rows",
            "activity re-exec",
            "faults",
            "recovery s (each)",
            "duration s",
        ]
    ]
    for r in reports:
        recoveries = " ".join(f"{x.recovery_s:.1f}" if x.recovery_s is not None else "-" for x in r.restarts)
        rows.append(
            [
                r.scenario,
                str(r.requests),
                str(r.completed),
                str(r.lost),
                str(r.duplicated_results),
                str(r.result_rows),
                f"{r.re_executions} of {r.expected_activities}",
                str(len(r.restarts)),
                recoveries or "-",
                f"{r.duration_s:.0f}",
            ]
        )
    return rows


def format_table(reports: Sequence[Report]) -> str:
    """The reports as an aligned text table."""
    rows = _rows(reports)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class Rig:
    """An isolated Azurite + host data directory + queue + results table for one scenario."""

    def __init__(self, *, collector_schedule: str = "*/2 * * * * *", log: Any = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="reliability-"))
        (self.root / "azurite").mkdir()
        self.azurite: Azurite = start_azurite(location=self.root / "azurite")
        suffix = uuid.uuid4().hex[:8]
        self.queue_name = f"faults-{suffix}"
        self.table_name = f"Faults{suffix}"
        self.data_dir = self.root / "host"
        self.env = {
            "HELLO_CITIES_QUEUE": self.queue_name,
            "HELLO_CITIES_RESULTS_TABLE": self.table_name,
            "HELLO_CITIES_COLLECTOR_SCHEDULE": collector_schedule,
            "DEVHOST_QUEUE_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        self.hosts: list[DevHost] = []
        self._log = log
        producer.ensure_queue(self.queue_client())

    # ------------------------------------------------------------------ processes
    @property
    def host(self) -> DevHost:
        """The current host process."""
        return self.hosts[-1]

    def start_host(self) -> DevHost:
        """Start `python -m devhost start` on the rig's data directory and wait until it answers."""
        host = start_devhost(REPO_ROOT, self.azurite, data_dir=self.data_dir, extra_env=self.env)
        self.hosts.append(host)
        return host

    def restart_azurite(self, down_s: float) -> None:
        """Stop Azurite, keep it down for down_s, start it again on the same ports with the same data."""
        old = self.azurite
        old.stop()
        time.sleep(down_s)  # the outage itself is the point: nothing to poll for
        self.azurite = start_azurite(
            location=old.location, blob_port=old.blob_port, queue_port=old.queue_port, table_port=old.table_port
        )

    def output(self) -> str:
        """The output of every host process started, in order."""
        return "\n".join(host.output() for host in self.hosts)

    def close(self) -> None:
        """Stop the host and Azurite and remove the rig's files."""
        if self.hosts and self.host.process.poll() is None:
            self.host.terminate()
        self.azurite.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ storage
    def queue_client(self, name: str | None = None) -> QueueClient:
        """A sync client of the rig's request queue (or another queue)."""
        return QueueClient.from_connection_string(self.azurite.connection_string, name or self.queue_name)

    def queue_length(self, name: str | None = None) -> int:
        """Messages on the queue, including invisible ones (leased by a host)."""
        try:
            return int(self.queue_client(name).get_queue_properties().approximate_message_count or 0)
        except ResourceNotFoundError:
            return 0

    def result_rows(self) -> list[dict[str, Any]]:
        """Every row of the results partition of the rig's table."""
        with TableClient.from_connection_string(self.azurite.connection_string, self.table_name) as table:
            try:
                return list(table.query_entities("PartitionKey eq 'result'"))
            except ResourceNotFoundError:
                return []

    # ------------------------------------------------------------------ task hub
    def status_counts(self, instance_ids: set[str] | None = None) -> dict[str, int]:
        """Instances per runtime status, read straight from the task hub file (cheap; no load on the host)."""
        path = self.data_dir / "taskhub.sqlite"
        if not path.exists():
            return {}
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)) as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM instances GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}

    def completed_count(self) -> int:
        """Instances that reached Completed."""
        try:
            return self.status_counts().get("Completed", 0)
        except sqlite3.Error:
            return -1  # the file is being created or recovered; try again

    def statuses(self, prefix: str = "hello-") -> dict[str, dict[str, Any]]:
        """Every instance with the id prefix, through the management API (paged), by instance id."""
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        query = urllib.parse.urlencode({"instanceIdPrefix": prefix, "top": 1000, "showInput": "false"})
        url = f"{self.host.base_url}/runtime/webhooks/durabletask/instances/?{query}"
        while True:
            request = urllib.request.Request(url, headers={"x-ms-continuation-token": token} if token else {})
            with urllib.request.urlopen(request, timeout=60) as response:
                page = json.loads(response.read())
                token = response.headers.get("x-ms-continuation-token")
            for status in page:
                found[status["instanceId"]] = status
            if not token:
                return found

    def say(self, text: str) -> None:
        """Progress line for the script (silent under pytest)."""
        if self._log is not None:
            print(text, file=self._log, flush=True)


@contextlib.contextmanager
def rig(**kwargs: Any) -> Iterator[Rig]:
    """A Rig for the with-block, cleaned up afterwards."""
    instance = Rig(**kwargs)
    try:
        yield instance
    finally:
        instance.close()


# ---------------------------------------------------------------------- sending
def send_mixed(rig: Rig, count: int, rng: random.Random) -> list[SentRequest]:
    """Send count requests of mixed kinds through producer.py's send path, in batches of 1 to 25."""
    sent: list[SentRequest] = []
    with rig.queue_client() as queue:
        while len(sent) < count:
            orchestration, cities = rng.choice(REQUEST_KINDS)
            batch = min(count - len(sent), rng.randint(1, 25))
            args = Namespace(
                orchestration=orchestration,
                count=batch,
                cities=list(cities) if cities else None,
                request_id=None,
            )
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                ids = _send_with_retry(queue, args)
            sent.extend(SentRequest(i, orchestration, cities or DEFAULT_CITIES[orchestration]) for i in ids)
    return sent


def _send_with_retry(queue: QueueClient, args: Namespace) -> list[str]:
    # Producer errors (storage down) are the sender's problem, not the host's: retry the batch.
    deadline = time.monotonic() + 60
    while True:
        try:
            return producer.send_requests(queue, args)
        except producer.ProducerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class _Sender:
    """send_mixed on a thread of its own, so faults hit the host while requests still arrive."""

    def __init__(self, rig: Rig, count: int, rng: random.Random) -> None:
        self.sent: list[SentRequest] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(rig, count, random.Random(rng.random())), daemon=True)
        self._thread.start()

    def _run(self, rig: Rig, count: int, rng: random.Random) -> None:
        try:
            self.sent = send_mixed(rig, count, rng)
        except BaseException as exc:
            self.error = exc

    def join(self) -> list[SentRequest]:
        """Wait for the sending to finish; re-raise its error."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.sent


# ---------------------------------------------------------------------- checks
def _reached(rig: Rig, target: int) -> bool:
    return rig.completed_count() >= target


def _wait_progress(rig: Rig, since: int, timeout: float) -> float | None:
    """Seconds until the completed count exceeds since (None if it did not within timeout)."""
    start = time.monotonic()
    try:
        wait_until(lambda: rig.completed_count() > since, timeout, "progress", interval=0.1)
    except AssertionError:
        return None
    return time.monotonic() - start


def settle_and_check(rig: Rig, sent: Sequence[SentRequest], report: Report, timeout: float) -> Report:
    """Wait until every request completed, its result is recorded and the queue drained; fill report."""
    wanted = {request.instance_id: request for request in sent}
    n = len(wanted)
    try:
        wait_until(lambda: rig.completed_count() >= n, timeout, f"{n} orchestrations to complete", interval=0.5)
    except AssertionError as exc:
        rig.say(f"  not all completed: {exc}")
    statuses = rig.statuses()
    completed_ids = {i for i, s in statuses.items() if i in wanted and s.get("runtimeStatus") == "Completed"}
    report.completed = len(completed_ids)
    report.lost = n - report.completed
    report.wrong_output = sum(1 for i in completed_ids if statuses[i].get("output") != wanted[i].expected_output)
    # Results: the collector records each completed run once; wait for all of them (or a stall).
    rows: list[dict[str, Any]] = []

    def recorded() -> bool:
        nonlocal rows
        rows = rig.result_rows()
        return len({row["instanceId"] for row in rows} & completed_ids) >= len(completed_ids)

    with contextlib.suppress(AssertionError):
        wait_until(recorded, min(timeout, 120), "results to be recorded", interval=1.0)
    report.result_rows = len(rows)
    ids = [row["instanceId"] for row in rows]
    report.duplicated_results = len(ids) - len(set(ids))
    report.bad_results = record_ok(rows, sent)
    # Messages a killed host held come back after their lease and are consumed as duplicates.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: rig.queue_length() == 0, LEASE_SECONDS * 4 + 30, "the request queue to drain", 0.5)
    report.queue_left = rig.queue_length()
    report.poisoned = rig.queue_length(f"{rig.queue_name}-poison")
    report.expected_activities = sum(len(request.cities) for request in sent)
    report.activity_executions = rig.output().count(ACTIVITY_LINE)
    return report


def record_ok(rows: Sequence[dict[str, Any]], sent: Sequence[SentRequest]) -> list[str]:
    """Problems with the recorded result rows (unknown ids, wrong outputs); empty when all is right."""
    wanted = {request.instance_id: request for request in sent}
    problems = []
    for row in rows:
        request = wanted.get(row["instanceId"])
        if request is None:
            problems.append(f"unexpected result row {row['instanceId']}")
        elif json.loads(row["output"]) != request.expected_output:
            problems.append(f"wrong recorded output for {row['instanceId']}: {row['output']}")
    return problems


# ---------------------------------------------------------------------- scenarios
def crash_scenario(rig: Rig, requests: int, kills: int = 3, seed: int | None = None, timeout: float = 600) -> Report:
    """Send requests while the host is SIGKILLed at random moments `kills` times and restarted."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report = Report(f"crash x{kills} (seed {seed})", requests)
    started = time.monotonic()
    rig.start_host()
    rig.say(f"crash: sending {requests} requests, {kills} kills at random moments (seed {seed})")
    sender = _Sender(rig, requests, rng)
    # Kill points: random fractions of the run, in order; a point already passed kills right after restart.
    points = sorted(rng.uniform(0.05, 0.8) for _ in range(kills))
    for point in points:
        target = int(point * requests)
        with contextlib.suppress(AssertionError):
            wait_until(functools.partial(_reached, rig, target), timeout, f"{target} completions", interval=0.05)
        time.sleep(rng.uniform(0, 0.3))
        before = max(rig.completed_count(), 0)
        killed_at = time.monotonic()
        rig.host.kill()
        rig.say(f"  SIGKILL at {before}/{requests} completed; restarting")
        restart = Restart("SIGKILL")
        rig.start_host()
        restart.ready_s = time.monotonic() - killed_at
        if before < requests:
            progress = _wait_progress(rig, max(rig.completed_count(), before), 60)
            restart.recovery_s = None if progress is None else time.monotonic() - killed_at
        report.restarts.append(restart)
        rig.say(f"  host back after {restart.ready_s:.1f}s, progressing again after {restart.recovery_s}s")
    sent = sender.join()
    settle_and_check(rig, sent, report, timeout)
    report.duration_s = time.monotonic() - started
    return report


def outage_scenario(
    rig: Rig, requests: int, down_s: float = 10.0, seed: int | None = None, timeout: float = 600
) -> Report:
    """Stop Azurite for down_s while the host works through requests; it must resume and lose nothing."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report = Report(f"storage outage {down_s:.0f}s", requests)
    started = time.monotonic()
    rig.start_host()
    rig.say(f"outage: sending {requests} requests, then Azurite down for {down_s:.0f}s")
    sent = send_mixed(rig, requests, rng)  # all sent first: the producer itself cannot send during the outage
    target = int(requests * rng.uniform(0.15, 0.4))
    with contextlib.suppress(AssertionError):
        wait_until(lambda: rig.completed_count() >= target, timeout, f"{target} completions", interval=0.05)
    lines_before = rig.host.output().count(OUTAGE_LINE)
    down_at = time.monotonic()
    rig.restart_azurite(down_s)
    restart = Restart("Azurite down")
    restart.ready_s = time.monotonic() - down_at
    # Progress that needs storage: the queue must drain again (the engine itself runs on SQLite).
    queued = rig.queue_length()

    def draining() -> bool:
        return rig.queue_length() < queued or queued == 0

    with contextlib.suppress(AssertionError):
        wait_until(draining, 120, "the queue to move again", interval=0.2)
    restart.recovery_s = time.monotonic() - down_at - down_s
    report.restarts.append(restart)
    report.outage_log_lines = rig.host.output().count(OUTAGE_LINE) - lines_before
    rig.say(f"  storage back; queue moving {restart.recovery_s:.1f}s later; {report.outage_log_lines} outage lines")
    settle_and_check(rig, sent, report, timeout)
    report.duration_s = time.monotonic() - started
    return report
