"""A file's kind is read from its content, never its name (chat/conversations/filetypes.py)."""

from __future__ import annotations

import pytest

from chat.conversations import filetypes
from chat.errors import ErrorCode, Refusal
from tests.support import files


@pytest.mark.parametrize(
    ("data", "name", "kind", "mime"),
    [
        (files.PNG, "a.png", "image", "image/png"),
        (files.PNG, "no-suffix", "image", "image/png"),
        (files.JPEG, "a.JPG", "image", "image/jpeg"),
        (files.GIF, "a.gif", "image", "image/gif"),
        (files.WEBP, "a.webp", "image", "image/webp"),
        (files.pdf(), "a.pdf", "pdf", "application/pdf"),
        (b"# Title\n\nSome *Markdown*.\n", "notes.md", "text", "text/plain"),
        (b'{"a": [1, 2]}', "data.json", "text", "text/plain"),
        (b"a,b\n1,2\n", "table.csv", "text", "text/plain"),
        (b"def f():\n\treturn 1\n", "f.py", "text", "text/plain"),
        (b"<html><script>alert(1)</script></html>", "page.html", "text", "text/plain"),
        ("日本語のテキスト".encode(), "ja.txt", "text", "text/plain"),
        ("\ufeffBOM UTF-8".encode(), "bom.txt", "text", "text/plain"),
        ("UTF-16 text".encode("utf-16"), "u16.txt", "text", "text/plain"),
    ],
)
def test_detect_reads_the_kind_from_the_content(
    data: bytes, name: str, kind: str, mime: str
) -> None:
    """Images by magic number, PDFs by `%PDF-`, and any UTF-8 or UTF-16 text."""
    found = filetypes.detect(data, name)
    assert (found.kind, found.mime) == (kind, mime)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (files.EXE, "setup.txt"),  # an executable renamed
        (files.ZIP, "archive.zip"),
        (b"text\x00with a NUL", "nul.txt"),
        (b"\xff\xfe\xfd not UTF-8", "latin.txt"),
        (b"plain text", "photo.png"),  # disguised: the name says image
        (files.PNG, "paper.pdf"),  # an image named as a PDF
        (files.pdf(), "scan.jpg"),
    ],
)
def test_detect_refuses_unsupported_and_disguised_files(data: bytes, name: str) -> None:
    """Anything not text, PDF or a known image, and a name promising another kind."""
    with pytest.raises(Refusal) as caught:
        filetypes.detect(data, name)
    assert caught.value.code == ErrorCode.INVALID
    assert caught.value.message == "This kind of file is not supported."


def test_pdf_text_is_extracted() -> None:
    assert "Hello from a PDF" in filetypes.detect(files.pdf(), "a.pdf").text


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (files.encrypted_pdf(), "This PDF is encrypted: it cannot be read."),
        (b"%PDF-1.4\nnothing here", "This PDF is broken: it cannot be read."),
    ],
)
def test_unreadable_pdfs_are_refused_clearly(data: bytes, says: str) -> None:
    with pytest.raises(Refusal) as caught:
        filetypes.detect(data, "a.pdf")
    assert (caught.value.code, caught.value.message) == (ErrorCode.INVALID, says)


def test_text_is_capped() -> None:
    assert filetypes.detect(b"x" * 50, "a.txt", max_chars=10).text == "x" * 10


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ('a"b\r\n.txt', "ab.txt"),
        ("", "file"),
        ("x" * 300 + ".txt", "x" * 196 + ".txt"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert filetypes.safe_name(name) == safe
