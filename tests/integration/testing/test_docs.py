"""docs/testing.md's and the README's examples, run as written: their Python blocks become a project pytest runs."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.integration.testing.support import TESTING_APP, run_inner
from tests.support.azurite import REPO_ROOT, Azurite

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.azurite, pytest.mark.slow]

DOC = REPO_ROOT / "docs" / "testing.md"
BLOCK = re.compile(r"```python\n# file: (?P<name>[\w.]+)\n(?P<code>.*?)```", re.DOTALL)


README = REPO_ROOT / "README.md"
README_SECTION = "## Testing your app with pytest\n"


def doc_files() -> dict[str, str]:
    """File name -> content of every `# file: NAME` Python block of the doc."""
    return {match["name"]: match["code"] for match in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def readme_example() -> str:
    """The Python block of the README's testing section (it tests the doc's app)."""
    section = README.read_text(encoding="utf-8").split(README_SECTION, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_doc_has_the_app_and_both_kinds_of_test() -> None:
    assert set(doc_files()) == {"function_app.py", "test_expense_host.py", "test_expense_unit.py"}


def test_the_docs_examples_pass(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> None:
    for name, code in doc_files().items():
        (pytester.path / name).write_text(code, encoding="utf-8")
    (pytester.path / "test_readme.py").write_text(readme_example(), encoding="utf-8")
    for name in ("host.json", "local.settings.json"):
        shutil.copy(TESTING_APP / name, pytester.path / name)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    result = run_inner(pytester, "-v")
    result.assert_outcomes(passed=8)
