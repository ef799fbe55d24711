"""The translation catalogues under locale/ are complete (issue #24).

Every entry of every `.po` is translated and none is fuzzy; the source holds no
translatable string that its catalogue lacks (`makemessages`, run on a copy of the
tree, finds none new: it needs GNU gettext's xgettext, which CI must have); and each
committed `.mo` is its `.po` compiled (msgfmt). After a change to a page's text:
`manage.py makemessages -l ja` (README, "Languages"), translate, `compilemessages`.
"""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
# What makemessages reads, as the README runs it (the djangojs domain: the scripts).
IGNORED = [".venv", "node_modules", "staticfiles", "bench", "tests"]
DOMAIN_OPTIONS = {"django": [], "djangojs": ["--ignore=static/vendor"]}
COPIED = ["manage.py", "chat", "chatsite", "security", "templates", "static", "stubs"]
FIELD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')


def entries(po: Path) -> list[dict[str, str]]:
    """The entries of a `.po` file: each its fields (msgid, msgstr, msgstr[0], ...) and
    its flags (`#,` lines) as `flags`; the header entry included."""
    found: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    field = ""
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry:
                found.append(entry)
            entry, field = {}, ""
        elif line.startswith("#~"):
            continue  # an obsolete entry: not in the catalogue
        elif line.startswith("#,"):
            entry["flags"] = entry.get("flags", "") + line[2:]
        elif line.startswith("#"):
            continue
        elif match := FIELD.match(line):
            field = match.group(1)
            entry[field] = ast.literal_eval(match.group(2))
        elif line.startswith('"') and field:
            entry[field] += ast.literal_eval(line)
    return [e for e in found if "msgid" in e]


def key(entry: dict[str, str]) -> tuple[str | None, str]:
    return entry.get("msgctxt"), entry["msgid"]


def untranslated(po: Path) -> list[str]:
    """The msgids of `po` with an empty translation or marked fuzzy."""
    faults = []
    for entry in entries(po):
        translations = [value for name, value in entry.items() if name.startswith("msgstr")]
        if not entry["msgid"]:  # the header: must not be fuzzy (msgfmt would skip it)
            if "fuzzy" in entry.get("flags", ""):
                faults.append("(the header) is fuzzy")
            continue
        if "fuzzy" in entry.get("flags", ""):
            faults.append(f"{entry['msgid']!r} is fuzzy")
        elif not translations or not all(translations):
            faults.append(f"{entry['msgid']!r} is not translated")
    return faults


def require(tool: str) -> str:
    """The path of a GNU gettext tool; skipped without it, but failed in CI."""
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing: CI must install gettext (.ci/run)")
        pytest.skip(f"{tool} is not installed (apt-get install gettext)")
    return found


def test_there_is_a_japanese_catalogue() -> None:
    assert LOCALE / "ja" / "LC_MESSAGES" / "django.po" in CATALOGUES


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(LOCALE)))
def test_every_entry_is_translated_and_none_is_fuzzy(po: Path) -> None:
    faults = untranslated(po)
    assert not faults, f"{po.relative_to(ROOT)}:\n" + "\n".join(faults)


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(LOCALE)))
def test_the_committed_mo_is_the_po_compiled(po: Path, tmp_path: Path) -> None:
    msgfmt = require("msgfmt")
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: run manage.py compilemessages"
    fresh = tmp_path / "fresh.mo"
    subprocess.run([msgfmt, "--check", "-o", fresh, po], check=True, capture_output=True)
    with mo.open("rb") as committed, fresh.open("rb") as compiled:
        old = gettext.GNUTranslations(committed)._catalog  # type: ignore[attr-defined]
        new = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    differ = sorted(str(k) for k in old.keys() ^ new.keys())
    differ += sorted(str(k) for k in old.keys() & new.keys() if old[k] != new[k])
    assert not differ, (
        f"{mo.relative_to(ROOT)} is not {po.name} compiled (run manage.py compilemessages): "
        + ", ".join(differ[:10])
    )


@pytest.fixture(scope="module")
def fresh_catalogues(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """Each committed catalogue's path, and the one makemessages makes now from a copy
    of the tree (so that the committed files are not touched)."""
    require("xgettext")
    copy = tmp_path_factory.mktemp("tree")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
            shutil.copytree(source, copy / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, copy / name)
    shutil.copytree(LOCALE, copy / "locale")
    env = {**os.environ, "DEBUG": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    ignores = [f"--ignore={path}" for path in IGNORED]
    languages = sorted({po.parts[-3] for po in CATALOGUES})
    for domain, options in DOMAIN_OPTIONS.items():
        if not any(po.stem == domain for po in CATALOGUES):
            continue
        for language in languages:
            command = [sys.executable, "manage.py", "makemessages", "-l", language, "-d", domain]
            subprocess.run(
                [*command, "--no-obsolete", *ignores, *options],
                cwd=copy,
                env=env,
                check=True,
                capture_output=True,
            )
    return {po: copy / po.relative_to(ROOT) for po in CATALOGUES}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: str(po.relative_to(LOCALE)))
def test_the_source_has_no_string_the_catalogue_lacks(
    po: Path, fresh_catalogues: dict[Path, Path]
) -> None:
    """A new translatable string fails here, named, until it is translated."""
    fresh = {key(e) for e in entries(fresh_catalogues[po]) if e["msgid"]}
    committed = {key(e) for e in entries(po) if e["msgid"]}
    missing = sorted(msgid for _context, msgid in fresh - committed)
    assert not missing, (
        f"{po.relative_to(ROOT)} lacks these strings of the source (run makemessages, "
        "translate them, then compilemessages):\n" + "\n".join(map(repr, missing))
    )
