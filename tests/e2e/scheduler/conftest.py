"""A `devhost scheduler` process per test module (its task hubs persist in the module's temporary folder)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.devhost import DevHost
from tests.support.scheduler import running_scheduler


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    """`devhost scheduler --task-hubs default,other` on free ports; DevHost.port is its gRPC port."""
    with running_scheduler(tmp_path_factory.mktemp("scheduler"), task_hubs="default,other") as process:
        yield process
