"""Command line: `python -m devhost start [--app-dir DIR] [--port N] ...`."""

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

from devhost.errors import DevHostError
from devhost.host import Host, HostOptions
from devhost.logs import LineWriter

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


def _directory(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exit code 2 with a usage message on bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
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
        help="auto: start the repository's Azurite when the app uses UseDevelopmentStorage=true and none runs",
    )
    start.add_argument(
        "--log-level", type=str.lower, choices=LOG_LEVELS, default=None, help="default: host.json or info"
    )
    return parser


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


async def _serve(host: Host) -> None:
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
    tune_process()
    log_writer = configure_logging()
    options = HostOptions(
        app_dir=args.app_dir.resolve(),
        port=args.port,
        host=args.host,
        dashboard_port=args.dashboard_port,
        data_dir=args.data_dir,
        azurite=args.azurite,
        log_level=args.log_level,
    )
    try:
        try:
            asyncio.run(_serve(Host(options)))
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
