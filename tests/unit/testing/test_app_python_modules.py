"""The devhost modules that run in the app's own Python (the worker's, and `devhost replay`'s episode runner)
keep to Python 3.10, the oldest version Azure Functions runs Python apps on and the oldest devhost accepts for
an app (devhost/workers/interpreter.py), while devhost itself is written for 3.11. mypy type-checks them as
3.10 code: a name 3.11 added (datetime.UTC, enum.StrEnum, typing.Self, asyncio.TaskGroup, ...) fails here,
before an app on 3.10 fails to start. tests/e2e/install runs apps on 3.10, 3.12 and 3.13 for real."""

from __future__ import annotations

from mypy import api

from devhost.testing.replay_episode import EPISODE_MODULES
from devhost.workers.interpreter import MIN_VERSION
from devhost.workers.worker_code import PACKAGE_DIR, module_files, worker_files


def test_the_modules_staged_into_the_apps_python_type_check_as_python_3_10() -> None:
    assert MIN_VERSION == (3, 10)  # this test's version, and the oldest app Python devhost accepts
    files = sorted({*worker_files(), *module_files((), EPISODE_MODULES)})
    paths = [str(PACKAGE_DIR / relative) for relative in files]
    # silent: the modules they import from the SDKs are not checked, nor reported on.
    stdout, stderr, status = api.run(
        ["--python-version", "3.10", "--follow-imports", "silent", "--no-incremental", *paths]
    )
    assert status == 0, stdout + stderr
    assert f"Success: no issues found in {len(paths)} source files" in stdout
