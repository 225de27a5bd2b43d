"""Which Azurite --azurite auto starts (this repository's, the app's, devhost's cache, PATH's) and what it
says when there is none, or no Node.js to run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devhost import azurite
from devhost.errors import AzuriteNotFoundError

REPO = Path(__file__).resolve().parents[3]
NODE = shutil.which("node")


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _path_with_node(*folders: Path) -> str:
    """PATH: the given folders, then a folder holding only the real `node` (no azurite or npm beside it)."""
    assert NODE is not None, "these tests need Node.js (make setup needs it too)"
    node_only = folders[0].parent / "node-only"
    if not node_only.exists():
        node_only.mkdir()
        (node_only / "node").symlink_to(NODE)
    return ":".join([*map(str, folders), str(node_only)])


def test_the_pinned_version_is_package_jsons() -> None:
    pins = json.loads((REPO / "package.json").read_text())["devDependencies"]
    assert pins["azurite"] == azurite.AZURITE_VERSION


def test_the_cache_is_under_xdg_cache_home_else_home(tmp_path: Path) -> None:
    assert azurite.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "devhost" / "azurite"
    assert azurite.cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "devhost" / "azurite"


def test_the_lookup_order_is_repository_then_app_then_cache_then_path(tmp_path: Path) -> None:
    repo_binary = tmp_path / "repo" / "node_modules" / ".bin" / "azurite"
    app = tmp_path / "my-app"
    on_path = _executable(tmp_path / "bin" / "azurite")
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": _path_with_node(tmp_path / "bin")}

    def found() -> azurite.AzuriteInstall:
        return azurite.find_azurite(environ, repo_binary, app_dir=app)

    assert found() == azurite.AzuriteInstall(on_path, "PATH")
    cached = _executable(azurite.cached_binary(environ))
    assert found() == azurite.AzuriteInstall(cached, "devhost's cache")
    in_app = _executable(app / "node_modules" / ".bin" / "azurite")
    assert found() == azurite.AzuriteInstall(in_app, "the app's node_modules")
    _executable(repo_binary)
    assert found() == azurite.AzuriteInstall(repo_binary, "this repository's node_modules")


def test_no_azurite_says_to_install_it_or_turn_it_off(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": _path_with_node(tmp_path / "empty")}
    with pytest.raises(AzuriteNotFoundError) as raised:
        azurite.find_azurite(environ, tmp_path / "no-repo" / "azurite", app_dir=tmp_path / "app")
    message = str(raised.value)
    assert "no Azurite was found" in message
    assert str(tmp_path / "app" / "node_modules" / ".bin" / "azurite") in message
    assert f"run `devhost azurite install` (Azurite {azurite.AZURITE_VERSION} into {tmp_path / 'cache'}" in message
    assert "pass --azurite off" in message


def test_without_node_it_says_node_20_or_later_is_needed(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": str(tmp_path / "empty")}
    _executable(azurite.cached_binary(environ))
    with pytest.raises(AzuriteNotFoundError) as raised:
        azurite.find_azurite(environ, tmp_path / "no-repo" / "azurite")
    assert "Azurite needs Node.js 20 or later, and `node` is not on PATH" in str(raised.value)
    with pytest.raises(AzuriteNotFoundError) as raised:
        azurite.install_azurite(environ)
    assert "Azurite needs Node.js 20 or later" in str(raised.value)


def test_an_old_node_is_named_with_its_version(tmp_path: Path) -> None:
    old = tmp_path / "bin" / "node"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho v18.19.0\n")
    old.chmod(0o755)
    with pytest.raises(AzuriteNotFoundError) as raised:
        azurite.check_node({"PATH": str(old.parent)})
    assert f"Azurite needs Node.js 20 or later; {old} is v18.19.0" in str(raised.value)


def test_install_without_npm_says_so(tmp_path: Path) -> None:
    with pytest.raises(AzuriteNotFoundError) as raised:
        azurite.install_azurite({"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": _path_with_node(tmp_path / "x")})
    assert "needs npm (it comes with Node.js), and `npm` is not on PATH" in str(raised.value)
