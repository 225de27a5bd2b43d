"""Import DIR/function_app.py and collect its functions, the way the Python worker indexes a v2 app."""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from azure.functions import FunctionRegister
from azure.functions.decorators.function_app import Function

from devhost.errors import AppLoadError

#: The worker's default script name (PYTHON_SCRIPT_FILE_NAME overrides it, as in Azure).
DEFAULT_SCRIPT = "function_app.py"


@dataclass(frozen=True)
class LoadedApp:
    """The imported module, its FunctionApp instance and the functions it registers."""

    module: ModuleType
    app: FunctionRegister
    functions: list[Function]
    script: Path


def load_app(app_dir: Path, script_name: str = DEFAULT_SCRIPT) -> LoadedApp:
    """Import the app with app_dir first on sys.path and return its functions (get_functions() once)."""
    app_dir = app_dir.resolve()
    script = app_dir / script_name
    if not script.is_file():
        raise AppLoadError(
            f"{script}: not found; the v2 programming model needs a {script_name} defining a FunctionApp"
        )
    # The app folder goes first so the app's own modules (blueprints, helpers) win over anything else.
    if str(app_dir) in sys.path:
        sys.path.remove(str(app_dir))
    sys.path.insert(0, str(app_dir))
    module_name = script.stem
    sys.modules.pop(module_name, None)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        details = "".join(traceback.format_exception(exc)).rstrip()
        raise AppLoadError(f"{script}: importing the app failed:\n{details}") from exc
    app = _find_app(module, script)
    try:
        # get_functions() validates names and may only be called once per instance (it remembers names).
        functions = list(app.get_functions())
    except Exception as exc:
        raise AppLoadError(f"{script}: indexing the functions failed: {exc}") from exc
    return LoadedApp(module=module, app=app, functions=functions, script=script)


def _find_app(module: ModuleType, script: Path) -> FunctionRegister:
    found: list[tuple[str, FunctionRegister]] = []
    for name in dir(module):
        value = getattr(module, name, None)
        if isinstance(value, FunctionRegister) and all(value is not other for _, other in found):
            found.append((name, value))
    if not found:
        raise AppLoadError(
            f"{script}: no FunctionApp instance found at module level; create one, e.g. app = func.FunctionApp()"
        )
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        raise AppLoadError(
            f"{script}: more than one FunctionApp instance at module level ({names}); keep one and register "
            "the others' functions as Blueprints with app.register_functions(bp)"
        )
    return found[0][1]
