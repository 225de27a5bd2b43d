"""BlobTriggerListener in process (tests/apps/blob_app in a real worker) against an Azurite that goes away:
the outage is logged once, scanning resumes when storage is back, and nothing done is done again."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.support.azurite import Azurite, start_azurite
from tests.support.blob_triggers import running_blob_app, upload
from tests.support.waiting import wait_until_async

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def _runs(seen: Path) -> list[str]:
    if not seen.exists():
        return []
    return [line.split("\t")[1] for line in seen.read_text().splitlines() if line.startswith("process_upload\t")]


async def test_outage_is_logged_once_and_scanning_resumes(
    own_azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost.triggers.blob")
    seen = tmp_path / "seen.tsv"
    async with running_blob_app(own_azurite, tmp_path, monkeypatch) as app:
        container = app.containers["BLOB_INPUT"]
        listener = app.listeners[0]
        await upload(own_azurite, container, "before.txt", b"1")
        await wait_until_async(lambda: _has(seen, f"{container}/before.txt"), 15, "the first blob")
        own_azurite.stop()
        # Scans every ~0.5 s fail for ~3 s, yet the outage is reported once and the listener keeps going.
        await asyncio.sleep(3)
        warnings = [r.getMessage() for r in caplog.records if "storage unavailable" in r.getMessage()]
        mine = [text for text in warnings if text.startswith(f"Blob container '{container}': storage unavailable (")]
        assert len(mine) == 1, warnings  # one line per container, not one per scan
        assert listener.scans > 0
        restarted = start_azurite(
            location=own_azurite.location,
            blob_port=own_azurite.blob_port,
            queue_port=own_azurite.queue_port,
            table_port=own_azurite.table_port,
        )
        try:
            await upload(restarted, container, "after.txt", b"2")
            await wait_until_async(lambda: _has(seen, f"{container}/after.txt"), 20, "the blob uploaded after")
            assert any("storage reachable again" in r.getMessage() for r in caplog.records)
            scans = listener.scans
            await wait_until_async(lambda: _more_scans(listener.scans, scans), 10, "two more scans")
            assert sorted(_runs(seen)) == [f"{container}/after.txt", f"{container}/before.txt"]  # once each
        finally:
            restarted.stop()


async def _has(seen: Path, path: str) -> bool:
    return await asyncio.to_thread(lambda: path in _runs(seen))


async def _more_scans(now: int, before: int) -> bool:
    return now >= before + 2
