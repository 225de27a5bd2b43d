"""The app's side of `devhost replay`: one orchestrator call, in the app's own Python, in the foreground.

`devhost replay` (replay_command.py) reads the task hub and judges the replay in devhost's Python. When the
app's Python is another interpreter, it runs this module there as a script (``python -m
devhost.testing.replay_episode``) from a staged copy of the few devhost modules it imports (EPISODE_MODULES),
so the app's own SDK versions and dependencies decide what its code does, and a breakpoint() in the
orchestrator stops in the user's terminal. Apps run on Python 3.10 and later: this module and what it imports
keep to what 3.10 has (tests/unit/testing/test_app_python_modules.py checks it with mypy).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devhost.errors import AppLoadError
from devhost.testing.app_module import orchestrator_handles

#: What this module imports of devhost, relative to the package folder (devhost/__init__.py comes along).
EPISODE_MODULES = (
    "__init__.py",
    "config.py",
    "errors.py",
    "testing/__init__.py",
    "testing/app_module.py",
    "testing/replay_episode.py",
)


def run_episode(app_dir: Path, function: str, context_json: str) -> dict[str, Any]:
    """Call the app's orchestrator handle with the context: {"result": text} when it returns, {"failure": text}
    when it raises (the SDK's failure path raises by design), {"missing": [orchestrator names]} when the app
    has no orchestrator of that name."""
    handles = orchestrator_handles(app_dir)
    handle = handles.get(function.lower())
    if handle is None:
        return {"missing": sorted(handles)}
    try:
        return {"result": handle(context_json)}  # a breakpoint() in the orchestrator stops in this terminal
    except Exception as exc:
        return {"failure": str(exc)}


def _script(argv: list[str]) -> int:
    """`python -m devhost.testing.replay_episode --app-dir A --function F --context FILE --answer FILE`."""
    parser = argparse.ArgumentParser(prog="devhost replay (in the app's Python)")
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--context", type=Path, required=True, help="the episode's context JSON")
    parser.add_argument("--answer", type=Path, required=True, help="where the answer's JSON goes")
    args = parser.parse_args(argv)
    try:
        answer = run_episode(args.app_dir, args.function, args.context.read_text(encoding="utf-8"))
    except AppLoadError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    args.answer.write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_script(sys.argv[1:]))
