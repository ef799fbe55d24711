"""What kind of file an upload is, read from its content, never from its name
(issue #25): an image (PNG, JPEG, GIF, WebP by their magic numbers), a PDF (its
text extracted by pypdf), or text (UTF-8, or UTF-16 with a byte order mark, without
NUL bytes: Markdown, source code, CSV, JSON and HTML are all text). Anything else is
refused, and so is a file whose name says image or PDF when its content is not."""

from __future__ import annotations

import io
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from django.utils.translation import gettext_lazy as _

from chat.errors import ErrorCode, Refusal

logger = logging.getLogger(__name__)

IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
# What a name's suffix promises: a file that does not keep it is disguised.
PROMISED = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
    ".pdf": "pdf",
}
UNSUPPORTED = _("This kind of file is not supported.")
MAX_NAME = 200


@dataclass(frozen=True)
class Detected:
    kind: str  # Attachment.Kind: "text", "pdf" or "image"
    mime: str
    text: str = ""  # a text file's or a PDF's text (capped at `max_chars`)


def unsupported() -> Refusal:
    return Refusal(ErrorCode.INVALID, UNSUPPORTED)


def detect(data: bytes, name: str = "", *, max_chars: int = 1_000_000) -> Detected:
    """The kind of `data`, from its content; a Refusal `invalid` when it is not one
    this server takes, or when `name` promises another kind than the content has."""
    found = _sniff(data, max_chars)
    promised = PROMISED.get(PurePath(name).suffix.lower())
    if found is None or (promised is not None and promised != found.kind):
        raise unsupported()
    return found


def _sniff(data: bytes, max_chars: int) -> Detected | None:
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic):
            return Detected("image", mime)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Detected("image", "image/webp")
    if data.startswith(b"%PDF-"):
        return Detected("pdf", "application/pdf", pdf_text(data)[:max_chars])
    text = decoded_text(data)
    if text is None:
        return None
    return Detected("text", "text/plain", text[:max_chars])


def decoded_text(data: bytes) -> str | None:
    """`data` as text: UTF-16 with its byte order mark, else UTF-8 (a BOM dropped); None
    when it is neither, or holds a NUL or other control characters a text has not."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(c not in "\t\n\r\f" and unicodedata.category(c) == "Cc" for c in text):
        return None
    return text


def pdf_text(data: bytes) -> str:
    """The text of a PDF's pages; a Refusal `invalid` when it is encrypted or broken."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Refusal(ErrorCode.INVALID, _("This PDF is encrypted: it cannot be read."))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        logger.info("unreadable PDF", exc_info=True)
        raise Refusal(ErrorCode.INVALID, _("This PDF is broken: it cannot be read.")) from None


def safe_name(name: str) -> str:
    """A file's name fit to show and to download as: its last part, without control
    characters, quotes or backslashes; "file" when nothing is left."""
    base = PurePath(name.replace("\\", "/")).name
    kept = "".join(c for c in base if unicodedata.category(c)[0] != "C" and c not in '"\\/').strip()
    if len(kept) > MAX_NAME:
        suffix = PurePath(kept).suffix[:20]
        kept = kept[: MAX_NAME - len(suffix)] + suffix
    return kept or "file"
