"""The host's dashboard: it knows the app's orchestrators, and an open event stream does not hold shutdown."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost

APPS = Path(__file__).resolve().parents[2] / "apps"

pytestmark = pytest.mark.azurite


def _open_event_stream(port: int) -> socket.socket:
    """A raw HTTP client holding GET /api/events open, as a browser tab does; returns once `ready` arrived."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    received = b""
    while b"event: ready" not in received:
        chunk = sock.recv(4096)
        assert chunk, f"the stream closed early: {received!r}"
        received += chunk
    assert b"200 OK" in received.split(b"\r\n", 1)[0]
    assert b"text/event-stream" in received
    return sock


def test_orchestrator_names_and_prompt_shutdown_with_a_stream_open(azurite: Azurite, tmp_path: Path) -> None:
    with running_devhost(APPS / "dashboard_app", azurite, data_dir=tmp_path) as host:
        with urllib.request.urlopen(host.dashboard_url + "/api/settings", timeout=10) as response:
            settings = json.load(response)
        assert settings["orchestratorNames"] == [
            "chain_cities",
            "failing",
            "fan_out_cities",
            "parent_of_chain",
            "quick",
            "wait_for_approval",
        ]
        sock = _open_event_stream(host.dashboard_port)
        try:
            started = time.monotonic()
            code = host.terminate(timeout=20)
            elapsed = time.monotonic() - started
            assert code == 0
            assert elapsed < 8, f"shutdown took {elapsed:.1f} s with an event stream open"
            assert "Host stopped" in host.output() and "Traceback" not in host.output()
        finally:
            sock.close()
