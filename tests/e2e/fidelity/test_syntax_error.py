"""An app whose function_app.py does not compile stops the host with the SyntaxError and the file named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.fidelity.helpers import APP
from tests.support.azurite import Azurite
from tests.support.devhost import start_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def test_syntax_error_in_app_stops_the_host_naming_the_file(azurite: Azurite, tmp_path: Path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name in ("host.json", "local.settings.json"):
        shutil.copy(APP / name, app_dir / name)
    (app_dir / "function_app.py").write_text(
        "import azure.functions as func\n\napp = func.FunctionApp()\n\n\ndef broken(:\n    pass\n"
    )
    host = start_devhost(app_dir, azurite, data_dir=tmp_path / "data", wait=False)
    try:
        wait_until(lambda: host.process.poll() is not None, 60, "the host to exit")
    finally:
        code = host.terminate()  # collects the exit code and the rest of the output (kills it if still up)
    output = host.output()
    assert code != 0, output
    assert "SyntaxError" in output, output
    assert "function_app.py" in output, output
