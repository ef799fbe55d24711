"""The scripts' Japanese catalogue (locale/ja/LC_MESSAGES/djangojs.*) covers every
string the scripts translate: each literal msgid of a gettext or ngettext call in
static/chat and static/chatadmin has a Japanese translation in the committed .mo
(so a string added without `makemessages` and a translation, or a .po not compiled,
fails here), and the .po has no fuzzy entry."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "locale" / "ja" / "LC_MESSAGES"
SCRIPTS = sorted((ROOT / "static" / "chat").glob("*.js")) + sorted(
    (ROOT / "static" / "chatadmin").glob("*.js")
)
LITERAL = r"""'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)\""""
CALL = re.compile(rf"\b(n?gettext)\(\s*(?:{LITERAL})")


def msgids() -> dict[str, str]:
    """Each literal first argument of gettext()/ngettext() -> the file it is in."""
    found = {}
    for path in SCRIPTS:
        for match in CALL.finditer(path.read_text()):
            text = match.group(2) if match.group(2) is not None else match.group(3)
            found[re.sub(r"\\(.)", r"\1", text)] = path.name
    return found


def test_every_string_of_the_scripts_has_a_japanese_translation() -> None:
    with (MESSAGES / "djangojs.mo").open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    ids = msgids()
    assert len(ids) > 200, "the scripts' strings were not found"
    missing = {
        msgid: name
        for msgid, name in ids.items()
        if catalogue.gettext(msgid) == msgid and catalogue.ngettext(msgid, "", 1) == msgid
    }
    # "OK" and "%(n)s / %(max)s" read the same in Japanese.
    assert set(missing) <= {"OK", "%(n)s / %(max)s"}, missing


def test_the_catalogue_has_no_fuzzy_entry() -> None:
    po = (MESSAGES / "djangojs.po").read_text()
    assert "#, fuzzy" not in po and ", fuzzy" not in po
    assert '"Language: ja\\n"' in po
