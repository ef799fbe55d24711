"""Every test that docs/reliability.md names exists.

The table's last column names test files relative to ``tests/`` and the test functions in
them (``file.py::test_name``, or ``file.py`` (``test_a``, ``test_b``)). A renamed or deleted
test would leave a scenario the document promises but nothing checks.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
FILE = re.compile(r"\b((?:unit|integration|e2e)/[\w/]*?test_\w+\.py)")
NAME = re.compile(r"\btest_\w+\b(?!\.py)")


def scenario_cells(doc: str) -> list[str]:
    """The test cells of the scenario tables (those headed scenario, expected, test)."""
    cells = []
    in_scenarios = False
    for line in doc.splitlines():
        if not line.startswith("|"):
            in_scenarios = False
        elif line.startswith("| scenario | expected behaviour | test |"):
            in_scenarios = True
        elif in_scenarios and not line.startswith("|---"):
            cells.append(re.split(r"(?<!\\)\|", line)[3])  # `\|` is a pipe in a cell
    return cells


def missing_tests(cell: str) -> list[str]:
    files = FILE.findall(cell)
    sources = []
    missing = []
    for name in files:
        path = ROOT / "tests" / name
        if not path.is_file():
            missing.append(name)
        else:
            sources.append(path.read_text())
    without_files = FILE.sub("", cell)
    for function in NAME.findall(without_files):
        defined = re.compile(rf"^\s*(?:async\s+)?def {function}\(", re.MULTILINE)
        if not any(defined.search(source) for source in sources):
            missing.append(function)
    return missing


def test_the_checker_sees_a_missing_test() -> None:
    assert missing_tests("`unit/test_docs_reliability.py::test_no_such_thing`") == [
        "test_no_such_thing"
    ]
    assert missing_tests("`unit/test_nowhere.py`") == ["unit/test_nowhere.py"]
    this_test = "`unit/test_docs_reliability.py::test_the_checker_sees_a_missing_test`"
    assert missing_tests(this_test) == []


@pytest.mark.parametrize("cell", scenario_cells(DOC.read_text()))
def test_every_named_test_exists(cell: str) -> None:
    assert FILE.search(cell), f"a scenario names no test file: {cell.strip()}"
    assert missing_tests(cell) == []
