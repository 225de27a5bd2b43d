"""`devhost replay` in the app's Python: the staged modules are all that the episode runner imports of devhost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devhost.testing.replay_command import STAGE_FOLDER
from devhost.testing.replay_episode import EPISODE_MODULES
from devhost.workers.worker_code import module_files, stage_modules

PROBE = """
import sys
import devhost.testing.replay_episode as episode
assert episode.__file__.startswith(sys.argv[1]), episode.__file__
print(sorted(name for name in sys.modules if name.startswith("devhost")))
"""


def test_the_staged_episode_modules_import_with_nothing_else_of_devhost_or_site_packages(tmp_path: Path) -> None:
    staged = stage_modules(tmp_path / STAGE_FOLDER, module_files((), EPISODE_MODULES))
    # -S: no site-packages, so neither the installed devhost nor any third-party package can be imported.
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(staged)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(staged)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "devhost.testing.replay_episode" in result.stdout
    # Reading the task hub and judging stay in devhost's own Python.
    assert "devhost.durable" not in result.stdout and "devhost.workers" not in result.stdout
