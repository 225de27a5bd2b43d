"""The worker's code staged for the app's interpreter: only the worker's modules, all it imports, nothing of
the host, one folder per content."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from devhost.workers.worker_code import PACKAGE_DIR, content_hash, stage_worker_code, worker_files


def _module_name(relative: Path) -> str:
    parts = ("devhost", *relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _devhost_imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "devhost" or name.startswith("devhost.")}


def test_every_devhost_module_the_staged_code_imports_is_staged(tmp_path: Path) -> None:
    staged = stage_worker_code(tmp_path)
    files = sorted(path.relative_to(staged / "devhost") for path in (staged / "devhost").rglob("*.py"))
    assert files == sorted(worker_files())
    modules = {_module_name(relative) for relative in files}
    for relative in files:
        for imported in _devhost_imports((staged / "devhost" / relative).read_text()):
            # `from devhost.worker import durable` names a module; `from devhost.protocol.messages import X`
            # names something in a staged module.
            assert imported in modules or imported.rsplit(".", 1)[0] in modules, (
                f"{relative} imports {imported}, which is not staged"
            )


def test_the_staged_folder_gives_the_worker_and_nothing_of_the_host(tmp_path: Path) -> None:
    staged = stage_worker_code(tmp_path / "data")
    # A Python with nothing installed (devhost's own venv has devhost, whose editable finder would answer).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True, timeout=120)
    script = (
        "import importlib.util, devhost, devhost.protocol.framing, devhost.lifetime\n"
        "print(devhost.__file__)\n"
        "print([importlib.util.find_spec(n) is None for n in ('devhost.host', 'devhost.workers', 'devhost.durable')])\n"
    )
    result = subprocess.run(
        [str(tmp_path / "env" / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(staged), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    where, missing = result.stdout.splitlines()
    assert Path(where) == staged / "devhost" / "__init__.py"
    assert missing == "[True, True, True]"


def test_one_folder_per_content_and_older_copies_are_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = stage_worker_code(data)
    assert stage_worker_code(data) == first
    assert first.name == content_hash()
    package = tmp_path / "devhost"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "worker" / "main.py").write_text((package / "worker" / "main.py").read_text() + "\n# changed\n")
    second = stage_worker_code(data, package)
    assert second != first and second.name == content_hash(package)
    assert (second / "devhost" / "worker" / "main.py").read_text().endswith("# changed\n")
    assert sorted(path.name for path in (data / "worker").iterdir()) == [second.name]
