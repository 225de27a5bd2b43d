"""The worker's own code, staged in a folder of its own for the app's interpreter to import.

The worker runs in the app's Python, where devhost is usually not installed. Core Tools ships its Python
worker inside the tool and starts it with the app's interpreter; devhost does the same: the host copies the
modules the worker process imports (and nothing else of devhost) into DATA_DIR/worker/<content hash>/ and
puts that folder first on the worker's PYTHONPATH. Pointing PYTHONPATH at the folder that holds the installed
devhost would not do: that is the host's site-packages, whose pinned SDKs would then shadow the app's own.

What the worker imports is fixed by the import-linter contracts in pyproject.toml ("The worker process and
the shared basics do not import aiohttp"; the worker's layer imports only the layers below it); a unit
test parses the staged modules' imports and checks that every devhost module they name is staged too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import devhost

#: The folder of the devhost package the host runs from.
PACKAGE_DIR = Path(devhost.__file__).resolve().parent
#: What the worker process imports of devhost, relative to the package folder: packages (every module in
#: them) and single modules. devhost/__init__.py comes along as the package's own module.
WORKER_PACKAGES = ("worker", "protocol")
WORKER_MODULES = ("__init__.py", "lifetime.py")
#: The staged copies' parent folder, under the data directory.
STAGE_FOLDER = "worker"


def module_files(packages: Sequence[str], modules: Sequence[str], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Source files relative to the package folder: every module of each package, and the single modules."""
    files = [Path(name) for name in modules]
    for package in packages:
        files += sorted(path.relative_to(package_dir) for path in (package_dir / package).glob("*.py"))
    return files


def worker_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The worker's source files, relative to the package folder, in a stable order."""
    return module_files(WORKER_PACKAGES, WORKER_MODULES, package_dir)


def content_hash(package_dir: Path = PACKAGE_DIR, files: Sequence[Path] | None = None) -> str:
    """A short digest of the files (names and bytes; the worker's by default): a new devhost gets a new folder."""
    digest = hashlib.sha256()
    for relative in worker_files(package_dir) if files is None else files:
        digest.update(relative.as_posix().encode() + b"\0" + (package_dir / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def stage_worker_code(data_dir: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """The folder to put on the worker's PYTHONPATH (it holds a `devhost` package with the worker's modules
    only); written once per content hash, atomically, and older copies removed."""
    return stage_modules(data_dir / STAGE_FOLDER, worker_files(package_dir), package_dir)


def stage_modules(parent: Path, files: Sequence[Path], package_dir: Path = PACKAGE_DIR) -> Path:
    """A folder under parent holding a `devhost` package with just these files (relative to package_dir), to put
    on another interpreter's PYTHONPATH; written once per content hash, atomically, and older copies removed."""
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / content_hash(package_dir, files)
    if not target.is_dir():
        # Written aside and renamed into place: a process never sees half a copy, and two hosts starting at
        # once (the second is refused the task hub later) cannot interleave their writes.
        scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
        for relative in files:
            destination = scratch / "devhost" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(package_dir / relative, destination)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(scratch, ignore_errors=True)  # another host put the same copy there first
    for entry in parent.iterdir():
        if entry != target and not entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)
    return target
