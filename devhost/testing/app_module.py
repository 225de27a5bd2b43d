"""Import an app's function_app.py in this process (for `devhost replay`) and find its orchestrators.

Done as the Python worker does it (the app folder first on sys.path, local.settings.json Values exported
as environment variables), but here, in the foreground: breakpoints and pdb in the app's code work.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devhost.config import load_config
from devhost.errors import AppLoadError

APP_FILE = "function_app.py"


def orchestrator_handles(app_dir: Path) -> dict[str, Callable[[Any], str]]:
    """The app's orchestrators: lower-cased function name -> the SDK handle the worker would call."""
    script = app_dir / APP_FILE
    if not script.is_file():
        raise AppLoadError(f"{app_dir} has no {APP_FILE}; pass --app-dir pointing at the function app")
    load_config(app_dir)  # exports local.settings.json Values, as for the host's workers
    sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise AppLoadError(f"importing {script} failed: {type(exc).__name__}: {exc}") from exc
    handles: dict[str, Callable[[Any], str]] = {}
    for value in list(vars(module).values()):
        get_functions = getattr(value, "get_functions", None)
        if get_functions is None or isinstance(value, type):
            continue
        for function in get_functions():
            trigger = function.get_trigger()
            if getattr(trigger, "type", None) == "orchestrationTrigger":
                handles[function.get_function_name().lower()] = function.get_user_function()
        break  # one FunctionApp per app, as the worker requires
    return handles
