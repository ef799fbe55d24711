"""The app's packages are floors: a module imports only from its own package or from
a lower floor, and packages on the same floor do not import each other
(docs/DESIGN.md, "The tree"). Read from the source's import statements, those inside
functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest floor first. A module belongs to the longest prefix listed here.
FLOORS: list[list[str]] = [
    ["chat.errors"],
    ["chat.models", "chat.contract", "chat.db", "chat.migrations"],
    [
        "chat.conversations",
        "chat.provider",
        "chat.telemetry",
        "chat.accounts",
        "chat.speech",
        "chat.webhooks",
        "chat.slack",
    ],
    ["chat.streaming.delivery"],
    ["chat.streaming.answer"],
    ["chat.streaming.stream"],
    ["chat.ops"],
    [
        "chat.transports.websocket",
        "chat.transports.http",
        "chat.transports.openai",
        "chat.transports.webhooks",
        "chat.transports.slack",
        "chat.admin",
        "chat.cli",
    ],
    ["chat.edge", "chat.urls", "chat.routing", "chat.apps", "chat.management"],
    ["chat.templatetags"],
]
# Folders that only group packages: their __init__.py imports nothing.
UMBRELLAS = {"chat", "chat.streaming", "chat.transports"}


def home(module: str) -> tuple[int, str] | None:
    """The floor and package that own `module` (None: not one of the app's)."""
    best: tuple[int, str] | None = None
    for floor, packages in enumerate(FLOORS):
        for package in packages:
            owns = module == package or module.startswith(package + ".")
            if owns and (best is None or len(package) > len(best[1])):
                best = (floor, package)
    return best


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the app in the file, relative ones resolved;
    `from chat.x import y` counts as chat.x.y (y may be a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found += [(node.lineno, f"{source}.{alias.name}") for alias in node.names]
    return [(line, module) for line, module in found if module.split(".")[0] == "chat"]


def violations(root: Path) -> list[str]:
    """Every import of `root`/chat that runs up or sideways, as 'file:line: a -> b'."""
    wrong = []
    for path in sorted((root / "chat").rglob("*.py")):
        name = module_name(path, root)
        if name in UMBRELLAS:
            wrong += [
                f"{path.relative_to(root)}:{line}: {name} -> {t}"
                for line, t in imported(path, root)
            ]
            continue
        here = home(name)
        assert here is not None, f"{path} is on no floor: add its package to FLOORS"
        for line, target in imported(path, root):
            there = home(target)
            if there is None:  # `from chat import x` of the bare package: look at x
                continue
            if there[1] == here[1] or there[0] < here[0]:
                continue
            where = path.relative_to(root)
            wrong.append(f"{where}:{line}: {here[1]} -> {there[1]}")
    return wrong


def test_every_import_of_the_app_points_down() -> None:
    assert violations(ROOT) == []


def test_every_package_of_the_app_is_on_a_floor() -> None:
    packages = {
        module_name(p.parent / "__init__.py", ROOT) for p in (ROOT / "chat").rglob("__init__.py")
    }
    for package in packages - UMBRELLAS:
        assert home(package) is not None, package


def write_tree(root: Path, path: str, source: str) -> None:
    """A package tree under `root` with one module, `path`, holding `source`."""
    file = root / path
    for parent in reversed(file.relative_to(root).parents):
        (root / parent).mkdir(exist_ok=True)
        (root / parent / "__init__.py").touch()
    file.write_text(source)


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        # A conversation service reaching up into the answer's machinery.
        (
            "chat/conversations/services.py",
            "from chat.streaming.answer import generation\n",
            "chat.conversations -> chat.streaming.answer",
        ),
        # Relative imports are resolved before they are judged.
        (
            "chat/conversations/services.py",
            "from ..transports.http import views\n",
            "chat.conversations -> chat.transports.http",
        ),
        # An import inside a function counts too.
        (
            "chat/streaming/delivery/subscriber.py",
            "def f():\n    from chat.ops import health\n",
            "chat.streaming.delivery -> chat.ops",
        ),
        # One door may not use another: each encodes the answer stream on its own.
        (
            "chat/transports/openai/views.py",
            "from chat.transports.http.views import json_error\n",
            "chat.transports.openai -> chat.transports.http",
        ),
        # Same floor, different package: sideways.
        (
            "chat/provider/llm.py",
            "from chat.conversations import services\n",
            "chat.provider -> chat.conversations",
        ),
    ],
)
def test_an_import_up_or_sideways_is_found(
    tmp_path: Path, path: str, source: str, expected: str
) -> None:
    """The rule is not vacuous: a tree with one wrong import fails it, by name."""
    write_tree(tmp_path, path, source)
    assert [v.split(": ", 1)[1] for v in violations(tmp_path)] == [expected]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("chat/transports/http/sse.py", "from chat.streaming.delivery import follower\n"),
        ("chat/streaming/answer/generation.py", "from chat.conversations import services\n"),
        ("chat/transports/http/sse.py", "from .views import json_error\n"),
        ("chat/conversations/services.py", "from chat.models import Message\n"),
    ],
)
def test_an_import_down_or_within_the_package_is_allowed(
    tmp_path: Path, path: str, source: str
) -> None:
    write_tree(tmp_path, path, source)
    assert violations(tmp_path) == []
