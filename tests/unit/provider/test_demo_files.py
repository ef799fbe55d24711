"""The offline demo says what it can tell of the files sent with a question (issue #25):
a newcomer attaching a CSV, a PDF or a screenshot sees them reach the model."""

from __future__ import annotations

import base64
import struct

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from chat.provider.demo import demo_reply
from chat.provider.demo_files import describe_files, image_size, split_question
from tests.support.files import GIF, PNG, pdf


def png(width: int, height: int) -> bytes:
    return PNG[:16] + struct.pack(">II", width, height) + PNG[24:]


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x00" * 9
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_vp8x(width: int, height: int) -> bytes:
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" + size


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")


def webp_lossy(width: int, height: int) -> bytes:
    return b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x9d\x01\x2a" + struct.pack(
        "<HH", width, height
    )


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(640, 480), (640, 480)),
        (GIF, (1, 1)),
        (jpeg(1024, 768), (1024, 768)),
        (webp_vp8x(300, 200), (300, 200)),
        (webp_lossless(17, 9), (17, 9)),
        (webp_lossy(320, 240), (320, 240)),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32, None),  # no frame header
        (pdf(), None),
        (b"", None),
    ],
)
def test_image_size_reads_the_header(data: bytes, size: tuple[int, int] | None) -> None:
    assert image_size(data) == size


def image_part(data: bytes, mime: str = "image/png") -> dict[str, object]:
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def text_part(text: str) -> dict[str, object]:
    return {"type": "text", "text": text}


@pytest.mark.parametrize(
    ("parts", "language", "said"),
    [
        ([], "en", ""),
        (
            [text_part("File notes.txt:\nFirst line here\nsecond")],
            "en",
            "I was sent 1 file(s): notes.txt (2 lines, 22 characters, starting “First line here”).",
        ),
        (
            [text_part("File scores.csv:\nname, score\nada,3\nbob,5")],
            "en",
            "I was sent 1 file(s): scores.csv (a table of 2 rows; columns: name, score).",
        ),
        (
            [image_part(png(2, 3))],
            "en",
            "I was sent 1 file(s): an image (PNG, 2×3 pixels).",
        ),
        (
            [image_part(b"not an image", "image/webp")],
            "en",
            "I was sent 1 file(s): an image (WEBP).",
        ),
        (
            [text_part("File big.md:\nabc\n[… cut: the file is longer than 3 characters]")],
            "en",
            "I was sent 1 file(s): big.md (1 lines, 3 characters, starting “abc”)"
            " (big.md was cut to fit).",
        ),
        (
            [text_part("File a.txt:\nx"), image_part(png(5, 5))],
            "ja",
            "ファイルを2件受け取りました："
            "a.txt（1行、1文字、書き出しは「x」）, 画像（PNG、5×5ピクセル）。",
        ),
        ([text_part("[Image photo.png not shown]"), {"type": "other"}, "text"], "en", ""),
    ],
)
def test_describe_files(parts: list[object], language: str, said: str) -> None:
    assert describe_files(parts, language) == said


@pytest.mark.parametrize(
    ("content", "question", "rest"),
    [
        ("plain", "plain", 0),
        ([text_part("Q?"), image_part(PNG)], "Q?", 1),
        ([image_part(PNG)], "", 1),
        ([], "", 0),
    ],
)
def test_split_question(content: str | list[object], question: str, rest: int) -> None:
    got, parts = split_question(content)
    assert (got, len(parts)) == (question, rest)


def test_the_demo_answer_quotes_the_question_and_names_the_files() -> None:
    asked = HumanMessage(
        [text_part("What is in these?"), text_part("File a.csv:\nx,y\n1,2"), image_part(png(4, 2))]
    )
    reply = demo_reply([SystemMessage("system"), asked])
    first, second = reply.splitlines()[:2]
    assert '"What is in these?"' in first and "File a.csv" not in first
    assert second == (
        "I was sent 2 file(s): a.csv (a table of 1 rows; columns: x, y),"
        " an image (PNG, 4×2 pixels)."
    )
    # Without files, the reply is the one the demo always gave for that question.
    plain = demo_reply([SystemMessage("system"), HumanMessage("What is in these?")])
    assert "file(s)" not in plain and plain.splitlines()[0] == first
