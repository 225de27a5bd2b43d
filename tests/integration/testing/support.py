"""Inner pytest runs (pytester) of devhost's plugin against tests/apps/testing_app and the test Azurite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.azurite import REPO_ROOT, Azurite

TESTING_APP = REPO_ROOT / "tests" / "apps" / "testing_app"


def app_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, ini: str = "", subdir: str = ""
) -> Path:
    """A pytester project holding a copy of the testing app (in its rootdir, or in subdir), storage pointed at
    the test Azurite."""
    target = pytester.path / subdir
    target.mkdir(exist_ok=True)
    for item in TESTING_APP.iterdir():
        if item.is_file():
            shutil.copy(item, target / item.name)
    # The environment wins over local.settings.json (as in Azure): no Azurite on the development ports needed.
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("TESTING_APP_QUEUE", "testing-app-requests")
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\n{ini}")
    return pytester.path


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner session in a subprocess (its own interpreter: the app's modules do not leak between runs)."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args, timeout=240)
