"""Headless Chromium (Debian's, driven by Playwright) for dashboard tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
CHROMIUM_PRESENT = Path(CHROMIUM).exists()


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Any]:
    """A fresh page in headless Chromium; JavaScript errors on it fail the block when it ends."""
    # No skip: a missing browser is a broken setup (make setup installs Debian's chromium).
    assert CHROMIUM_PRESENT, f"{CHROMIUM} is missing: run `make setup` as root, or apt-get install chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page
        finally:
            await browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"
