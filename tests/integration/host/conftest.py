"""Fixtures of the host integration tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.azurite import Azurite, start_azurite


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite this test may stop and restart (the session one is shared)."""
    (tmp_path / "azurite").mkdir()
    instance = start_azurite(location=tmp_path / "azurite")
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(instance.location, ignore_errors=True)
