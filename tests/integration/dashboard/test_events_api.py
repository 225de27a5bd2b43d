"""Server-sent events: instance changes reach open streams, one producer serves all, shutdown ends streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from devhost.dashboard.app import DashboardSettings, create_dashboard_app
from devhost.dashboard.context import FEED
from tests.support.dashboard import TASK_HUB, open_engine, running_dashboard
from tests.support.engines import stop_test_engine
from tests.support.ports import free_port

EVENT_TIMEOUT_S = 10.0


class EventReader:
    """Reads one text/event-stream response event by event (name, parsed data)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, name: str | None = None) -> tuple[str, Any]:
        """The next event (named `name` when given; others are skipped), within EVENT_TIMEOUT_S."""
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                event, data = "message", []
                while True:
                    line = (await self.response.content.readline()).decode()
                    if line == "":
                        raise EOFError("the stream ended")
                    line = line.rstrip("\n")
                    if not line:
                        break
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                if data and (name is None or event == name):
                    return event, json.loads("\n".join(data))


async def _open(session: aiohttp.ClientSession, url: str) -> AsyncGenerator[EventReader, None]:
    async with session.get(url + "/api/events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield EventReader(response)


async def _instance_event(reader: EventReader, instance_id: str) -> dict[str, Any]:
    """Skip events until one names instance_id (or says everything changed)."""
    while True:
        _, data = await reader.next("instances")
        if data["instanceIds"] is None or instance_id in data["instanceIds"]:
            return data


async def test_changes_reach_every_open_stream(tmp_path: Path) -> None:
    async with running_dashboard(tmp_path / "hub") as stack:
        streams = [_open(stack.session, stack.base_url) for _ in range(2)]
        readers = [await anext(stream) for stream in streams]
        try:
            for reader in readers:
                _, ready = await reader.next("ready")
                assert ready == {"pollIntervalMs": 1000}
            instance_id = await stack.engine.start_orchestration("wait_for_approval", "sse-1")
            for reader in readers:
                data = await _instance_event(reader, instance_id)
                assert data["reason"] == "updated" and data["time"].endswith("Z") and data["seq"] >= 1

            # A state change of an existing instance is an event too.
            await stack.wait_custom_status(instance_id)
            await stack.engine.raise_event(instance_id, "Approval", json.dumps(True))
            await stack.wait_until(instance_id)
            await _instance_event(readers[0], instance_id)

            # Purging through the dashboard is announced although it leaves no row behind.
            status, body = await stack.post(f"/api/instances/{instance_id}/purge")
            assert status == 200, body
            while True:
                _, data = await readers[1].next("instances")
                if data["reason"] == "purged":
                    assert data["instanceIds"] == [instance_id]
                    break
        finally:
            for stream in streams:
                await stream.aclose()


async def test_one_shared_producer_and_prompt_shutdown_with_open_streams(tmp_path: Path) -> None:
    engine = await open_engine(tmp_path / "hub")
    runner: web.AppRunner | None = None
    try:
        app = create_dashboard_app(engine, settings=DashboardSettings(task_hub=TASK_HUB), stats=engine.statistics)
        before = {task for task in asyncio.all_tasks() if task.get_name() == "dashboard-change-feed"}
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        producers = {task for task in asyncio.all_tasks() if task.get_name() == "dashboard-change-feed"} - before
        assert len(producers) == 1, "exactly one producer per app"
        feed = app[FEED]
        async with aiohttp.ClientSession() as session:
            streams = [_open(session, f"http://127.0.0.1:{port}") for _ in range(3)]
            readers = [await anext(stream) for stream in streams]
            for reader in readers:
                await reader.next("ready")
            assert feed.subscriber_count == 3
            still_one = {t for t in asyncio.all_tasks() if t.get_name() == "dashboard-change-feed"} - before
            assert still_one == producers, "streams share the producer"

            # Shutting down with streams open is prompt: on_shutdown ends them instead of waiting for a timeout.
            started = time.monotonic()
            await runner.cleanup()
            runner = None
            assert time.monotonic() - started < 5.0
            for reader in readers:
                with pytest.raises(EOFError):
                    await reader.next()
            for stream in streams:
                await stream.aclose()
        (producer,) = producers
        assert producer.done(), "the producer is cancelled and awaited on cleanup"
        assert feed.subscriber_count == 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await stop_test_engine(engine)
