"""Every test under tests/reliability is a reliability scenario: `pytest -m reliability` runs them alone."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of this folder `reliability` (and slow: they start hosts and inject faults)."""
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)
