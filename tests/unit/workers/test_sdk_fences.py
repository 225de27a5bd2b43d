"""The fences around the SDKs' internals (devhost/worker/sdk_internals.py): on the pinned versions every
shortcut and private import is in place; on another version the stock path runs and one line says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devhost.worker import sdk_internals, sdk_speedups

REPO = Path(__file__).resolve().parents[3]


def pinned(distribution: str) -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == distribution:
            return version.strip()
    raise AssertionError(f"{distribution} is not pinned in requirements.txt")


def test_every_shortcut_is_active_on_the_pinned_versions() -> None:
    for distribution in ("azure-functions", "azure-functions-durable"):
        assert sdk_internals.installed_version(distribution) == pinned(distribution)
        assert pinned(distribution) in sdk_internals.VERIFIED[distribution]
        assert sdk_internals.is_verified(distribution)
    assert sdk_internals.HAS_DURABLE_CONVERTERS
    sdk_speedups.install()
    assert sdk_speedups.active() == frozenset(sdk_speedups.ALL)
    assert sdk_speedups.keeps_history()


def test_an_unverified_sdk_version_runs_the_stock_code_and_says_so() -> None:
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from devhost.worker import sdk_internals, sdk_speedups\n"
        "sdk_internals.VERIFIED['azure-functions-durable'] = frozenset({'0.0.1'})\n"
        "import importlib\n"
        "events = importlib.import_module('azure.durable_functions.models.history.HistoryEvent')\n"
        "before = events.dt_parse\n"
        "sdk_speedups.install()\n"
        "print('active', sorted(sdk_speedups.active()), 'parser unchanged', events.dt_parse is before)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[-1] == "active [] parser unchanged True"
    fence_lines = [line for line in lines if "verified on 0.0.1 only" in line]
    assert len(fence_lines) == 1, result.stdout
    assert fence_lines[0].startswith(f"azure-functions-durable {pinned('azure-functions-durable')}: ")
