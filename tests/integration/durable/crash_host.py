"""A host process for the kill -9 test: opens the task hub, starts a fan-out, runs until killed.

Usage: python -m tests.integration.durable.crash_host <data_dir> <instance_id> <spec JSON>
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from devhost.durable.engine import DurableEngine
from devhost.durable.models import EngineOptions
from tests.integration.durable.conftest import APP
from tests.support.engines import start_test_functions


async def main(data_dir: Path, instance_id: str, spec: str) -> None:
    options = EngineOptions(task_hub="TestHub", max_concurrent_activities=4, max_concurrent_orchestrations=4)
    engine = DurableEngine.open(data_dir, await start_test_functions(APP), options)
    await engine.start()
    await engine.start_orchestration("restart_fan", instance_id, spec)
    print("started", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
