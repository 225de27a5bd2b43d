"""Command line: `devhost start [--app-dir DIR] [--port N] ...` (or `python -m devhost ...`)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from devhost.azurite import AZURITE_VERSION, cache_dir, install_azurite
from devhost.errors import DevHostError
from devhost.host import Host, HostOptions
from devhost.logs import LineWriter
from devhost.scheduler.standalone import SchedulerOptions, StandaloneScheduler, parse_task_hubs

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


def _scheduler_port(text: str) -> int | None:
    """--scheduler-port: a port, or ``off``."""
    return None if text.strip().lower() == "off" else _port(text)


def _task_hubs(text: str) -> tuple[str, ...]:
    try:
        return parse_task_hubs(text)
    except DevHostError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _directory(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exit code 2 with a usage message on bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="devhost",
        description="Local development host for Python v2 Azure Functions apps (Durable Functions included).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    start = commands.add_parser("start", help="run the function app until Ctrl+C, like `func start`")
    start.add_argument("--app-dir", type=_directory, default=Path("."), help="the app folder (default: .)")
    start.add_argument(
        "--port",
        type=_port,
        default=None,
        help="functions port (default: local.settings.json Host.LocalHttpPort or 7071)",
    )
    start.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others enforce keys)")
    start.add_argument("--dashboard-port", type=_port, default=8082, help="dashboard port (default 8082)")
    start.add_argument(
        "--data-dir", type=Path, default=None, help="task hub and keys folder (default APP_DIR/.devhost)"
    )
    start.add_argument(
        "--azurite",
        choices=("auto", "off"),
        default="auto",
        help="auto: start an Azurite (this repository's, `devhost azurite install`'s, or PATH's) when the app "
        "uses UseDevelopmentStorage=true and none runs",
    )
    start.add_argument(
        "--python",
        type=Path,
        default=None,
        help="the Python that runs the app (default: $VIRTUAL_ENV's, else APP_DIR/.venv's, else devhost's own)",
    )
    start.add_argument(
        "--log-level", type=str.lower, choices=LOG_LEVELS, default=None, help="default: host.json or info"
    )
    start.add_argument(
        "--scheduler-port",
        type=_scheduler_port,
        default=8080,
        help="Durable Task Scheduler gRPC endpoint port (default 8080; off to disable)",
    )
    scheduler = commands.add_parser(
        "scheduler", help="serve the Durable Task Scheduler endpoint and the dashboard alone (no app, no Azurite)"
    )
    scheduler.add_argument("--port", type=_port, default=8080, help="gRPC endpoint port (default 8080)")
    scheduler.add_argument("--dashboard-port", type=_port, default=8082, help="dashboard port (default 8082)")
    scheduler.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need the admin key)"
    )
    scheduler.add_argument(
        "--data-dir", type=Path, default=Path(".devhost"), help="where the task hubs live (default ./.devhost)"
    )
    scheduler.add_argument(
        "--task-hubs", type=_task_hubs, default=("default",), help="comma-separated task hub names (default: default)"
    )
    scheduler.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS, default=None, help="default: info")
    replay = commands.add_parser(
        "replay", help="replay a stored instance through the app's current orchestrator code (pdb works)"
    )
    replay.add_argument("instance_id", metavar="INSTANCE_ID", help="the orchestration instance to replay")
    replay.add_argument("--app-dir", type=_directory, default=Path("."), help="the app folder (default: .)")
    replay.add_argument(
        "--data-dir", type=Path, default=None, help="the host's task hub folder (default APP_DIR/.devhost)"
    )
    replay.add_argument(
        "--python",
        type=Path,
        default=None,
        help="the Python that runs the app's code, chosen as for `devhost start` (default: $VIRTUAL_ENV's, "
        "else APP_DIR/.venv's, else devhost's own)",
    )
    azurite = commands.add_parser("azurite", help="the Azurite storage emulator devhost starts for the app")
    azurite_commands = azurite.add_subparsers(dest="azurite_command", metavar="ACTION", required=True)
    azurite_commands.add_parser(
        "install", help=f"install Azurite {AZURITE_VERSION} with npm into devhost's per-user cache ({cache_dir()})"
    )
    return parser


def install_azurite_command() -> int:
    """`devhost azurite install`: exit code 0 with where it went, 1 with what is missing."""
    print(f"Installing Azurite {AZURITE_VERSION} into {cache_dir()} with npm ...", flush=True)
    try:
        binary = install_azurite()
    except DevHostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"Azurite {AZURITE_VERSION} is installed: {binary}; `devhost start` will use it.", flush=True)
    return 0


#: sys.setswitchinterval for the host process (see tune_process).
SWITCH_INTERVAL_S = 0.001


def tune_process() -> None:
    """The host process's process-wide settings, all here (freeze_startup_objects runs once it started)."""
    # Every durable step hands work between the event loop and worker threads (store, channel) several
    # times; at the default 5 ms switch interval each hand-over can wait up to 5 ms for the GIL
    # (bench/README.md has what 1 ms changed).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # No log line shows where it was logged from, nor which thread or process logged it: the logging
    # HOWTO's "Optimization" section names these switches, which spare every record those look-ups.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def freeze_startup_objects() -> None:
    """What startup made lives as long as the host: frozen, it is no longer scanned by every full
    collection, which otherwise stalls every durable step in flight (bench/README.md has the figures)."""
    gc.collect()
    gc.freeze()


def configure_logging() -> LineWriter:
    """Functions-style lines: "[2024-05-01T12:00:00.123Z] message" on stderr; close() the writer at exit."""
    # The host logs several lines per invocation; writing each to stderr on the event loop's thread cost
    # ~10 % of the loop under load, so a writer thread writes them, in order and in batches.
    writer = LineWriter(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = [writer]
    root.setLevel(logging.INFO)
    return writer


async def _serve(host: Host | StandaloneScheduler) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            logging.getLogger("devhost").warning("Second interrupt: exiting without waiting")
            os._exit(130)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    running = asyncio.create_task(host.run(stop), name="host")
    started = asyncio.create_task(host.started.wait(), name="host started")
    try:
        await asyncio.wait({running, started}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            freeze_startup_objects()
    finally:
        started.cancel()
        await asyncio.gather(started, return_exceptions=True)
    await running


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "azurite":
        return install_azurite_command()
    if args.command == "replay":
        # Imported here: it loads the Durable SDK and the app, which `devhost start` never does in this process.
        from devhost.testing.replay_command import replay_main

        return replay_main(args.instance_id, args.data_dir, args.app_dir, args.python)
    tune_process()
    log_writer = configure_logging()
    if args.command == "scheduler":
        if args.log_level:
            logging.getLogger().setLevel(args.log_level.upper())
        scheduler_options = SchedulerOptions(
            data_dir=args.data_dir.resolve(),
            host=args.host,
            port=args.port,
            dashboard_port=args.dashboard_port,
            task_hubs=args.task_hubs,
        )
        return _run_service(StandaloneScheduler(scheduler_options), log_writer)
    options = HostOptions(
        app_dir=args.app_dir.resolve(),
        port=args.port,
        host=args.host,
        dashboard_port=args.dashboard_port,
        data_dir=args.data_dir,
        azurite=args.azurite,
        log_level=args.log_level,
        python=args.python,
        scheduler_port=args.scheduler_port,
    )
    return _run_service(Host(options), log_writer)


def _run_service(service: Host | StandaloneScheduler, log_writer: LineWriter) -> int:
    """Serve until stopped; the exit code, with the error printed when it could not start."""
    try:
        try:
            asyncio.run(_serve(service))
        finally:
            # Log lines still queued for the writer thread come before any error printed below.
            log_writer.close()
    except DevHostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: {exc.strerror}: pick other ports with --port / --dashboard-port", file=sys.stderr)
            return 1
        raise
    return 0
