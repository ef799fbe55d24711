"""What the offline demo model says of the files sent with a question (issue #25).

The question arrives as OpenAI content parts (chat/conversations/attachments.py): its
text first, then a text part "File <name>:" with each text or PDF file's text, and an
`image_url` data URL for each image. The demo reads what it can without a model: a
file's lines and characters and its first line (a CSV's columns), an image's type and
size in pixels from its header. So a newcomer sees the files reach the model offline.
Pure: no Django, no LangChain.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Sequence

FILE_RE = re.compile(r"\AFile (?P<name>[^\n]*):\n(?P<text>.*)\Z", re.DOTALL)
CUT_RE = re.compile(r"\n\[… cut: the file is longer than \d+ characters\]\Z")
DATA_URL_RE = re.compile(r"\Adata:(?P<mime>image/[\w.+-]+);base64,(?P<data>.*)\Z", re.DOTALL)

WORDS = {
    "en": {
        "intro": "I was sent {count} file(s): {files}.",
        "text": "{name} ({lines} lines, {chars} characters, starting “{first}”)",
        "csv": "{name} (a table of {rows} rows; columns: {columns})",
        "image": "an image ({kind}, {width}×{height} pixels)",
        "image_unknown": "an image ({kind})",
        "cut": "{name} was cut to fit",
    },
    "ja": {
        "intro": "ファイルを{count}件受け取りました：{files}。",
        "text": "{name}（{lines}行、{chars}文字、書き出しは「{first}」）",
        "csv": "{name}（{rows}行の表、列：{columns}）",
        "image": "画像（{kind}、{width}×{height}ピクセル）",
        "image_unknown": "画像（{kind}）",
        "cut": "{name}は長いため一部のみ",
    },
    "fr": {
        "intro": "J'ai reçu {count} fichier(s) : {files}.",
        "text": "{name} ({lines} lignes, {chars} caractères, commençant par « {first} »)",
        "csv": "{name} (un tableau de {rows} lignes ; colonnes : {columns})",
        "image": "une image ({kind}, {width}×{height} pixels)",
        "image_unknown": "une image ({kind})",
        "cut": "{name} a été coupé",
    },
}


def split_question(content: str | Sequence[object]) -> tuple[str, list[object]]:
    """The question's own text, and the parts after it (its files)."""
    if isinstance(content, str):
        return content, []
    parts = list(content)
    first = parts[0] if parts else None
    if isinstance(first, dict) and first.get("type") == "text":
        return str(first.get("text", "")), parts[1:]
    return "", parts


def describe_files(parts: Sequence[object], language: str) -> str:
    """One sentence naming each file part, in `language` ("" and unknown: English)."""
    words = WORDS.get(language, WORDS["en"])
    described = [d for part in parts if (d := _describe(part, words))]
    if not described:
        return ""
    return words["intro"].format(count=len(described), files=", ".join(described))


def _describe(part: object, words: dict[str, str]) -> str:
    if not isinstance(part, dict):
        return ""
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        return _describe_image(str(url), words)
    match = FILE_RE.match(str(part.get("text", ""))) if part.get("type") == "text" else None
    if match is None:
        return ""
    name, text = match["name"], match["text"]
    cut = CUT_RE.search(text)
    text = text[: cut.start()] if cut else text
    lines = text.splitlines() or [""]
    if name.lower().endswith(".csv") and len(lines) > 1:
        columns = ", ".join(c.strip() for c in lines[0].split(",") if c.strip())[:80]
        said = words["csv"].format(name=name, rows=len(lines) - 1, columns=columns)
    else:
        first = " ".join(lines[0].split())[:40]
        said = words["text"].format(name=name, lines=len(lines), chars=len(text), first=first)
    return said + (f" ({words['cut'].format(name=name)})" if cut else "")


def _describe_image(url: str, words: dict[str, str]) -> str:
    match = DATA_URL_RE.match(url)
    if match is None:
        return ""
    kind = match["mime"].split("/", 1)[1].upper()
    try:
        head = base64.b64decode(match["data"][:64_000], validate=False)
    except (binascii.Error, ValueError):
        head = b""
    size = image_size(head)
    if size is None:
        return words["image_unknown"].format(kind=kind)
    return words["image"].format(kind=kind, width=size[0], height=size[1])


def image_size(data: bytes) -> tuple[int, int] | None:
    """An image's width and height from its header: PNG, GIF, JPEG (its frame
    header), WebP (VP8X, lossless VP8L, lossy VP8); None when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None
