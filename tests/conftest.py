"""Fixtures shared by every test: a session-wide real Azurite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.azurite import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A real Azurite on free loopback ports, shared by the whole test session."""
    with running_azurite() as instance:
        yield instance
