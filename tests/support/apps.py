"""Import the small v2 test apps under tests/apps/ (a folder of apps, not a package)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

APPS_DIR = Path(__file__).resolve().parents[1] / "apps"


def import_test_app(name: str) -> ModuleType:
    """A fresh import of tests/apps/<name>/function_app.py.

    Fresh each call because an app's get_functions() may be called only once per app object, and
    module state (attempt counters and the like) should not leak between tests.
    """
    path = APPS_DIR / name / "function_app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
