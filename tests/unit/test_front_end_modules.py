"""The chat page's script is a set of ES modules (issue #24): no single chat.js, no
module over 300 lines, the entry loaded as a module, and the staff live tail on the
same protocol client."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
MAX_LINES = 300
IMPORT = re.compile(r"^import .* from '(\.{1,2}/[\w./-]+)';$", re.MULTILINE)


def es_modules() -> list[Path]:
    """The front end's ES modules: the files that import or export."""
    files = sorted((STATIC / "chat").glob("*.js")) + sorted((STATIC / "chatadmin").glob("*.js"))
    marker = re.compile(r"^(import|export) ", re.MULTILINE)
    return [path for path in files if marker.search(path.read_text())]


def test_chat_js_is_gone_and_main_js_is_loaded_as_a_module() -> None:
    assert not (STATIC / "chat" / "chat.js").exists()
    page = (ROOT / "templates" / "chat" / "index.html").read_text()
    assert "chat/chat.js" not in page
    assert '<script src="{% static \'chat/main.js\' %}" type="module"></script>' in page


def test_no_front_end_module_is_over_300_lines() -> None:
    modules = es_modules()
    assert {"main.js", "protocol.js", "store.js", "tail.js"} <= {p.name for p in modules}
    long = {p.name: n for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_every_relative_import_names_a_file_that_exists() -> None:
    for path in es_modules():
        for target in IMPORT.findall(path.read_text()):
            assert (path.parent / target).resolve().is_file(), f"{path.name} imports {target}"


def test_the_live_tail_uses_the_chat_pages_protocol_client() -> None:
    tail = (STATIC / "chatadmin" / "tail.js").read_text()
    assert "import { ProtocolClient } from '../chat/protocol.js';" in tail
    assert "new WebSocket" not in tail
    form = (ROOT / "templates" / "admin" / "chat" / "conversation" / "change_form.html").read_text()
    assert 'chatadmin/tail.js\' %}" type="module"' in form
