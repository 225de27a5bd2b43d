"""`devhost replay` in the app's Python: the staged modules are all that the replay imports of devhost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devhost.testing.replay_command import REPLAY_MODULES, REPLAY_PACKAGES, STAGE_FOLDER
from devhost.workers.worker_code import module_files, stage_modules

PROBE = """
import sys
import devhost.testing.replay_command as replay
assert replay.__file__.startswith(sys.argv[1]), replay.__file__
print(sorted(name for name in sys.modules if name.startswith("devhost")))
"""


def test_the_staged_replay_modules_import_with_nothing_else_of_devhost_or_site_packages(tmp_path: Path) -> None:
    staged = stage_modules(tmp_path / STAGE_FOLDER, module_files(REPLAY_PACKAGES, REPLAY_MODULES))
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
    assert "devhost.testing.replay_command" in result.stdout
    assert "devhost.workers" not in result.stdout  # imported only where devhost runs the command itself
