"""Ours: the Hello Cities function_app.py on devhost, driven the way users drive it.

The host runs as its own process (``python -m devhost start``, like ``func start``), with its task
hub in SQLite under a fresh data directory and a real Azurite. Orchestrations are started by the
SDK's ``DurableOrchestrationClient`` against the host's RPC endpoint (what a durable client binding
does), completion is detected through the management API, and completion times are read from each
instance's stored history (``ExecutionCompleted``'s timestamp), so polling granularity does not
enter the figures. The app's code runs in the host's worker processes (``python -m devhost.worker``),
W5's queue function included: its durable client reaches the host over HTTP, as it does in Azure.
During W1 and W4 the CPU time of the host, of each worker process and of Azurite is read from /proc.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import azure.durable_functions as df
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.queue import QueueClient

from bench.common import Measurement, Sizes, cities, measurement_from
from devhost.durable.client_binding import build_client_binding
from hello_cities.messages import encode_start_message, instance_id_for
from hello_cities.results_store import RESULT_PARTITION
from producer import encode_for_queue
from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import DevHost, start_devhost
from tests.support.waiting import wait_until_async

MGMT = "/runtime/webhooks/durabletask"
RPC = "/_rpc/durabletask/"
TASK_HUB = "default"
TIMEOUT_S = 300.0
POLL_S = 0.05
W5_POLL_S = 0.5
CHAINING = "chaining_orchestration"
FAN_OUT = "fan_out_fan_in_orchestration"
W5_QUEUE = "bench-requests"
W5_TABLE = "BenchResults"
W5_FLOOR_QUEUE = "bench-floor"


def _ts(text: str) -> float:
    """A stored history timestamp (``...Z`` with up to 7 fractional digits) as epoch seconds."""
    text = text.rstrip("Z")
    if "." in text:
        head, fraction = text.split(".")
        text = f"{head}.{fraction[:6]}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (utime + stime from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def worker_pids(host_pid: int) -> list[int]:
    """The host's worker processes: its children whose command line runs devhost.worker.

    Read from /proc/<host>/task/*/children, or by scanning /proc for processes whose parent is the host
    where the kernel does not offer that file.
    """
    children: set[int] = set()
    files = list(Path(f"/proc/{host_pid}/task").glob("*/children"))
    for path in files:
        try:
            children.update(int(pid) for pid in path.read_text().split())
        except OSError:
            continue
    if not files:
        children = {
            int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(int(p.name)) == host_pid
        }
    return sorted(pid for pid in children if "devhost.worker" in _cmdline(pid))


class CoreMeter:
    """Cores the host, its worker processes and Azurite used over a workload's wall time, and how busy the
    whole machine was meanwhile.

    A thread of its own reads their CPU seconds from /proc (and the machine's from /proc/stat) every
    SAMPLE_S; cores_between() interpolates the readings at the window's two ends and divides by its length.
    The bench notices the last completion only at its next status poll, so stopping the count then would
    add that idle tail to the window.
    """

    SAMPLE_S = 0.01

    def __init__(self, host_pid: int, azurite_pid: int) -> None:
        self.host_pid = host_pid
        self.azurite_pid = azurite_pid
        #: (time.time(), CPU seconds by key): "host", "azurite", "machine" (all cores, busy) and "worker <pid>".
        self._samples: list[tuple[float, dict[str, float]]] = [self._sample()]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="core-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.SAMPLE_S):
            self._samples.append(self._sample())

    def _sample(self) -> tuple[float, dict[str, float]]:
        cpu = {"host": cpu_seconds(self.host_pid), "azurite": cpu_seconds(self.azurite_pid), "machine": machine_busy()}
        for pid in worker_pids(self.host_pid):
            try:
                cpu[f"worker {pid}"] = cpu_seconds(pid)
            except OSError:  # exited since it was listed
                continue
        return time.time(), cpu

    def stop(self) -> None:
        """Stop sampling (after a last reading)."""
        self._done.set()
        self._thread.join()
        self._samples.append(self._sample())

    def _at(self, key: str, when: float) -> float:
        """The CPU seconds of key at `when`, interpolated; a worker not running yet counts from zero and one
        that exited keeps its last reading."""
        known = [(at, cpu[key]) for at, cpu in self._samples if key in cpu]
        if not known or when <= known[0][0]:
            return known[0][1] if known and not key.startswith("worker") else 0.0
        for (t0, c0), (t1, c1) in itertools.pairwise(known):
            if when <= t1:
                return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1
        return known[-1][1]

    def cores_between(self, start: float, end: float) -> dict[str, Any]:
        """{"cores": {"host", "workers", "azurite"}, "cores_worker_processes", "cores_window_s",
        "machine_busy_cores"} over [start, end] (epoch seconds)."""
        window = end - start
        keys = {key for _, cpu in self._samples for key in cpu}
        workers = sorted(key for key in keys if key.startswith("worker"))

        def used(key: str) -> float:
            return (self._at(key, end) - self._at(key, start)) / window

        cores = {
            "host": round(used("host"), 2),
            "workers": round(sum(used(key) for key in workers), 2),
            "azurite": round(used("azurite"), 2),
        }
        return {
            "cores": cores,
            "cores_worker_processes": len(workers),
            "cores_window_s": round(window, 3),
            "machine_busy_cores": round(used("machine"), 2),
        }


def machine_busy() -> float:
    """CPU seconds all cores spent busy so far (every /proc/stat column but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # Columns 8 and 9 (guest time) are already inside user and nice.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


class Driver:
    """A client of one running devhost."""

    def __init__(self, host: DevHost, session: aiohttp.ClientSession, azurite_pid: int) -> None:
        self.host = host
        self.session = session
        self.azurite_pid = azurite_pid
        base = host.base_url
        self.client = df.DurableOrchestrationClient(build_client_binding(base + MGMT, base + RPC, TASK_HUB))
        #: Every instance this driver started (W5 waits until the collector has recorded them all).
        self.started: list[str] = []

    async def _terminal_count(self, prefix: str) -> int:
        url = f"{self.host.base_url}{MGMT}/instances/"
        params = {"instanceIdPrefix": prefix, "runtimeStatus": "Completed,Failed,Terminated", "top": "1000"}
        count, token = 0, None
        while True:
            headers: dict[str, str] = {"x-ms-continuation-token": token} if token else {}
            async with self.session.get(url, params=params, headers=headers) as response:
                response.raise_for_status()
                count += len(await response.json())
                token = response.headers.get("x-ms-continuation-token")
            if not token:
                return count

    async def _any_not_ended(self, prefix: str) -> bool:
        """Whether an instance with the prefix has not ended yet (a one-row query)."""
        url = f"{self.host.base_url}{MGMT}/instances/"
        params = {"instanceIdPrefix": prefix, "runtimeStatus": "Pending,Running,Suspended,ContinuedAsNew", "top": "1"}
        async with self.session.get(url, params=params) as response:
            response.raise_for_status()
            return bool(await response.json())

    async def wait_terminal(self, prefix: str, expected: int) -> None:
        """Poll the management API until the `expected` instances with the prefix (all started already) have ended.

        Each poll asks for one instance that has not ended: the host under measurement serves the bench's polls
        too, and listing every ended instance 20 times a second cost it a few % of its CPU.
        """
        deadline = time.monotonic() + TIMEOUT_S
        while await self._any_not_ended(prefix):
            if time.monotonic() > deadline:
                raise TimeoutError(f"instances {prefix}* did not finish within {TIMEOUT_S} s")
            await asyncio.sleep(POLL_S)
        ended = await self._terminal_count(prefix)
        if ended != expected:
            raise RuntimeError(f"{ended} instances {prefix}* ended, {expected} were started")

    async def history(self, instance_id: str) -> dict[str, Any]:
        """The instance's status with its history (after the measurement, so it costs nothing)."""
        url = f"{self.host.base_url}{MGMT}/instances/{instance_id}"
        async with self.session.get(url, params={"showHistory": "true"}) as response:
            response.raise_for_status()
            status: dict[str, Any] = await response.json()
            return status

    async def completion_times(self, ids: list[str]) -> dict[str, float]:
        """ExecutionCompleted timestamp of each (completed) instance."""
        semaphore = asyncio.Semaphore(16)

        async def one(instance_id: str) -> float:
            async with semaphore:
                status = await self.history(instance_id)
            if status["runtimeStatus"] != "Completed":
                raise RuntimeError(f"{instance_id} ended {status['runtimeStatus']}: {status.get('output')}")
            events = status["historyEvents"]
            return _ts(next(e["Timestamp"] for e in events if e["EventType"] == "ExecutionCompleted"))

        times = await asyncio.gather(*(one(i) for i in ids))
        return dict(zip(ids, times, strict=True))

    async def run(self, name: str, prefix: str, inputs: list[list[str] | None], *, cores: bool = False) -> Measurement:
        """Start one instance per input together, wait for all, measure send-to-complete (and, with
        `cores`, the cores the host, its workers and Azurite used meanwhile)."""
        run_prefix = f"{prefix}-{uuid.uuid4().hex[:6]}-"
        ids = [f"{run_prefix}{n}" for n in range(len(inputs))]
        self.started.extend(ids)
        sent: dict[str, float] = {}

        async def start(instance_id: str, names: list[str] | None) -> None:
            sent[instance_id] = time.time()
            await self.client.start_new(name, instance_id, {"cities": names} if names else None)

        meter = CoreMeter(self.host.process.pid, self.azurite_pid) if cores else None
        try:
            await asyncio.gather(*(start(i, names) for i, names in zip(ids, inputs, strict=True)))
            await self.wait_terminal(run_prefix, len(ids))
        finally:
            if meter is not None:
                meter.stop()
        done = await self.completion_times(ids)
        m = measurement_from(sent, done, len(ids))
        if meter is not None:
            # The workload's wall time, which the rates use too: from the first start to the last completion.
            m.extra.update(meter.cores_between(min(sent.values()), max(done.values())))
        return m


async def run_w1_to_w4(driver: Driver, sizes: Sizes) -> dict[str, Any]:
    """W1-W4 and the host's RSS after W3-10000."""
    results: dict[str, Any] = {}
    await driver.run(CHAINING, "warmup", [None])
    results["W1"] = (await driver.run(CHAINING, "w1", [None] * sizes.w1_orchestrations, cores=True)).to_dict()
    m = await driver.run(CHAINING, "w2", [cities(sizes.w2_activities)])
    m.count = sizes.w2_activities
    results["W2"] = m.to_dict()
    for size, label in zip(sizes.w3_fan_outs, ("W3-5", "W3-1000", "W3-10000"), strict=True):
        m = await driver.run(FAN_OUT, label.lower(), [cities(size)])
        m.count = size
        results[label] = m.to_dict()
    results["rss_after_w3_mb"] = round(rss_mb(driver.host.process.pid), 1)
    inputs: list[list[str] | None] = [cities(sizes.w4_cities)] * sizes.w4_orchestrations
    results["W4"] = (await driver.run(FAN_OUT, "w4", inputs, cores=True)).to_dict()
    return results


async def _recorded(table: TableClient, ids: set[str]) -> tuple[int, float]:
    """How many of the instances have a result row, and the latest of their `recordedTime`s (epoch s)."""
    from hello_cities.results_store import row_key_for

    keys = {row_key_for(i) for i in ids}
    found, latest = 0, 0.0
    query = table.query_entities(f"PartitionKey eq '{RESULT_PARTITION}'", select=["RowKey", "recordedTime"])
    async for entity in query:
        if entity["RowKey"] in keys:
            found += 1
            latest = max(latest, entity["recordedTime"].timestamp())
    return found, latest


async def wait_recorded(table: TableClient, ids: set[str]) -> tuple[int, float]:
    """Poll the results table until every instance has its row; (rows found, latest recordedTime)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            done, last_recorded = await _recorded(table, ids)
        except ResourceNotFoundError:  # the table appears with the first collector pass
            done, last_recorded = 0, 0.0
        if done >= len(ids):
            return done, last_recorded
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done}/{len(ids)} results recorded after {TIMEOUT_S} s")
        # Coarse polling: W5's figure is the rows' own recordedTime, and listing the table often would
        # take CPU from the host under test.
        await asyncio.sleep(W5_POLL_S)


async def _wake_poller(driver: Driver, queue: QueueClient) -> None:
    """Send one untimed message and wait until the queue trigger has started its orchestration.

    An idle queue trigger polls less and less often, up to host.json's maxPollingInterval (2 s), so the
    first timed messages would otherwise wait for that back-off rather than for the host.
    """
    request_id = f"bench-wake-{uuid.uuid4().hex[:12]}"
    instance_id = instance_id_for(request_id)
    await asyncio.to_thread(queue.send_message, _start_payload(request_id))

    async def started() -> bool:
        return (await driver.client.get_status(instance_id)).runtime_status is not None

    await wait_until_async(started, TIMEOUT_S, f"the queue trigger to start {instance_id}", interval=0.01)


def _start_payload(request_id: str) -> str:
    """A chaining start request as producer.py puts it on the queue."""
    return encode_for_queue(encode_start_message("chaining", request_id))


async def run_w5(driver: Driver, azurite: Azurite, sizes: Sizes) -> dict[str, Any]:
    """W5-cold, W5 and W5-paced: producer messages through the queue; message-to-completed latency (and
    message-to-Running, for information) and the time until all are recorded, sent as fast as Azurite takes
    them to an idle trigger and to an awake one, then at a fixed rate. Then W5-floor."""
    table = TableClient.from_connection_string(azurite.connection_string, W5_TABLE)
    async with table:
        # Start on a settled host: the app's collector first records the runs of W1-W4, so that their
        # collection is not measured as part of W5. Each run returns once its results are all recorded, so
        # the next one starts on a settled host too.
        await wait_recorded(table, set(driver.started))
        results = {"W5-cold": await _run_w5(driver, azurite, table, sizes.w5_messages)}
        results["W5"] = await _run_w5(driver, azurite, table, sizes.w5_messages, wake_poller=True)
        results["W5-paced"] = await _run_w5(
            driver, azurite, table, sizes.w5_paced_messages, rate=sizes.w5_paced_rate, wake_poller=True
        )
    results["W5-floor"] = await run_w5_floor(azurite, sizes.w5_messages)
    return results


async def _run_w5(
    driver: Driver,
    azurite: Azurite,
    table: TableClient,
    count: int,
    rate: float | None = None,
    wake_poller: bool = False,
) -> dict[str, Any]:
    queue = QueueClient.from_connection_string(azurite.connection_string, W5_QUEUE)
    request_ids = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    if wake_poller:
        await _wake_poller(driver, queue)
    pids = {"host": driver.host.process.pid, "azurite": azurite.managed.process.pid, "sender": os.getpid()}
    payloads = {_start_payload(request_id): instance_id_for(request_id) for request_id in request_ids}
    sending = await _send(queue, list(payloads), pids, rate)
    sent = {payloads[payload]: at for payload, at in sending.sent.items()}
    _, last_recorded = await wait_recorded(table, set(sent))
    running, completed = await _milestones(driver, list(sent))
    # What a user waits for: message sent to orchestration completed (the goal's p50/p95).
    m = measurement_from(sent, completed, count)
    m.wall_s = last_recorded - sending.first  # "all recorded": the time until every result is in the table
    started = measurement_from(sent, running, count).to_dict()  # message sent to Running: information only
    m.extra.update(sending.figures(), paced_rate=rate, running_p50_s=started["p50_s"], running_p95_s=started["p95_s"])
    return m.to_dict()


async def _milestones(driver: Driver, ids: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """When each instance started Running (its first TaskScheduled) and completed (ExecutionCompleted)."""
    semaphore = asyncio.Semaphore(16)
    running: dict[str, float] = {}
    completed: dict[str, float] = {}

    async def one(instance_id: str) -> None:
        async with semaphore:
            status = await driver.history(instance_id)
        if status["runtimeStatus"] != "Completed":
            raise RuntimeError(f"{instance_id} ended {status['runtimeStatus']}: {status.get('output')}")
        events = status["historyEvents"]
        running[instance_id] = min(_ts(e["ScheduledTime"]) for e in events if e.get("ScheduledTime"))
        completed[instance_id] = _ts(next(e["Timestamp"] for e in events if e["EventType"] == "ExecutionCompleted"))

    await asyncio.gather(*(one(i) for i in ids))
    return running, completed


async def run_w5_floor(azurite: Azurite, count: int) -> dict[str, Any]:
    """W5-floor: W5's sender and messages, consumed by a process that only receives and deletes them
    (bench/queue_floor.py); its sent-to-received latency bounds W5's message-to-Running from below."""
    queue = QueueClient.from_connection_string(azurite.connection_string, W5_FLOOR_QUEUE)
    await asyncio.to_thread(queue.create_queue)
    payloads = [_start_payload(f"bench-floor-{uuid.uuid4().hex[:12]}") for _ in range(count)]
    consumer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.queue_floor", "--connection-string", azurite.connection_string,
        "--queue", W5_FLOOR_QUEUE, "--count", str(count), "--timeout", str(TIMEOUT_S),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert consumer.stdout is not None
        await asyncio.wait_for(consumer.stdout.readline(), TIMEOUT_S)  # "ready": it is polling
        pids = {"consumer": consumer.pid, "azurite": azurite.managed.process.pid, "sender": os.getpid()}
        sending = await _send(queue, payloads, pids, None)
        stdout, _ = await asyncio.wait_for(consumer.communicate(), TIMEOUT_S)
    finally:
        if consumer.returncode is None:
            consumer.kill()
            await consumer.wait()
    received: dict[str, float] = json.loads(stdout)
    if len(received) < count:
        raise RuntimeError(f"the W5-floor consumer received {len(received)} of {count} messages in {TIMEOUT_S} s")
    m = measurement_from(sending.sent, received, count)
    m.extra.update(sending.figures())
    return m.to_dict()


@dataclass
class _Sending:
    """When each message was sent, and what the sending took."""

    sent: dict[str, float]
    first: float
    seconds: float
    cores: dict[str, float]

    def figures(self) -> dict[str, Any]:
        return {"send_rate": round(len(self.sent) / self.seconds, 1), "cores_while_sending": self.cores}


async def _send(queue: QueueClient, payloads: list[str], pids: dict[str, int], rate: float | None) -> _Sending:
    """Send the payloads one at a time (at `rate` per second, or as fast as Azurite takes them) from a
    thread, like `producer.py chaining --count N`, and measure the cores each of `pids` used meanwhile."""
    sent: dict[str, float] = {}

    def send_all() -> None:
        start = time.monotonic()
        for n, payload in enumerate(payloads):
            if rate:
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
            sent[payload] = time.time()
            queue.send_message(payload)

    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    first = time.time()
    try:
        await asyncio.to_thread(send_all)
    finally:
        queue.close()
    seconds = time.time() - first
    # Where the machine's two cores went while messages were arriving ("sender" is this bench process,
    # which also reads the host's log output).
    cores = {name: round((cpu_seconds(pid) - cpu_before[name]) / seconds, 2) for name, pid in pids.items()}
    return _Sending(sent, first, seconds, cores)


def disk_per_instance(data_dir: Path) -> dict[str, float]:
    """Bytes on disk per completed chaining (W1) and fan-out-of-5 (W4) instance: a copy of the stopped
    host's task hub keeping only those instances, vacuumed, minus the same copy emptied."""
    source = data_dir / "taskhub.sqlite"
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sizes: dict[str, int] = {}
        for label, keep in (("chaining", "w1-%"), ("fan_out_5", "w4-%"), ("empty", "\x00none")):
            copy = Path(tmp) / f"{label}.sqlite"
            shutil.copy(source, copy)
            conn = sqlite3.connect(copy, isolation_level=None)
            kept = conn.execute("SELECT COUNT(*) FROM instances WHERE instance_id LIKE ?", (keep,)).fetchone()[0]
            for table in ("history", "inbox", "work_items", "instances"):
                conn.execute(f"DELETE FROM {table} WHERE instance_id NOT LIKE ?", (keep,))
            conn.execute("VACUUM")
            conn.close()
            sizes[label] = copy.stat().st_size
            if label != "empty":
                sizes[label + "_count"] = kept
        for label in ("chaining", "fan_out_5"):
            count = sizes[label + "_count"]
            if count:
                out[f"bytes_per_{label}_instance"] = round((sizes[label] - sizes["empty"]) / count)
    return out


def fill_and_measure_rss(azurite: Azurite, count: int) -> dict[str, Any]:
    """Host RSS with `count` completed instances in its store (filled by bench/fill_store.py)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-fill-"))
    try:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "bench" / "fill_store.py"), "--data-dir", str(data_dir),
             "--task-hub", TASK_HUB, "--count", str(count)],
            check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        fill_s = time.monotonic() - started
        host = start_devhost(REPO_ROOT, azurite, data_dir=data_dir, extra_env=_host_env())
        try:
            with urllib_session() as get:
                get(f"{host.base_url}{MGMT}/instances/?top=100")
                get(f"{host.dashboard_url}/api/instances")
                get(f"{host.dashboard_url}/api/overview")
            rss = rss_mb(host.process.pid)
        finally:
            host.terminate()
        return {"instances": count, "rss_mb": round(rss, 1), "fill_s": round(fill_s, 1)}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


class urllib_session:
    """GET helper for a few synchronous requests."""

    def __enter__(self) -> Any:
        import urllib.request

        def get(url: str) -> None:
            with urllib.request.urlopen(url, timeout=60) as response:
                response.read()

        return get

    def __exit__(self, *exc: object) -> None:
        return None


async def _close_sdk_session() -> None:
    """The SDK client keeps one aiohttp session per process and never closes it; close it before the loop ends."""
    from azure.durable_functions.models.utils import http_utils

    await http_utils._close_session()


def _host_env() -> dict[str, str]:
    return {
        "HELLO_CITIES_QUEUE": W5_QUEUE,
        "HELLO_CITIES_RESULTS_TABLE": W5_TABLE,
        # Every second instead of every 10 s, so W5 measures the engine rather than the schedule.
        "HELLO_CITIES_COLLECTOR_SCHEDULE": "* * * * * *",
    }


async def run_ours(azurite: Azurite, sizes: Sizes, *, fill_count: int) -> dict[str, Any]:
    """Every workload on one host, then the disk and RSS figures."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    host = start_devhost(REPO_ROOT, azurite, data_dir=data_dir, extra_env=_host_env())
    results: dict[str, Any] = {"pid_rss_start_mb": round(rss_mb(host.process.pid), 1)}
    try:
        async with aiohttp.ClientSession() as session:
            driver = Driver(host, session, azurite.managed.process.pid)
            results.update(await run_w1_to_w4(driver, sizes))
            results.update(await run_w5(driver, azurite, sizes))
            await _close_sdk_session()
    finally:
        code = host.terminate()
        if code != 0:
            print(host.output()[-4000:], file=sys.stderr)
    results["disk"] = disk_per_instance(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    if fill_count:
        results["fill"] = fill_and_measure_rss(azurite, fill_count)
    if os.environ.get("BENCH_KEEP_OUTPUT"):
        print(host.output(), file=sys.stderr)
    return results
