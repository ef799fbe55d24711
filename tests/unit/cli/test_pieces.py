"""What the terminal client prints and speaks per chunk mode (chat.cli.main.pieces):
spoken clause mode asks the server for tokens and cuts them with the voice's own
chunker; every other case passes the server's chunks through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chat.cli.main import pieces

TOKENS = ["Streaming", " speech", " starts", " with", " a", " simple", " idea", ":", " say",
          " each", " clause", ",", " then", " the", " next", "."]  # fmt: skip


class Server:
    """Answers `ask` with the chunks the server would send in the mode asked."""

    def __init__(self) -> None:
        self.modes: list[str] = []

    def ask(self, conversation: str, prompt: str, chunk: str) -> Iterator[str]:
        self.modes.append(chunk)
        if chunk == "token":
            yield from TOKENS
        else:
            yield "".join(TOKENS)  # one chunk stands for the server's own grouping


@pytest.mark.parametrize(
    ("chunk", "speaking", "asked", "first"),
    [
        ("clause", True, "token", "Streaming speech starts with"),
        ("clause", False, "clause", "".join(TOKENS)),
        ("sentence", True, "sentence", "".join(TOKENS)),
        ("token", True, "token", "Streaming"),
    ],
)
def test_which_mode_is_asked_and_the_first_piece(
    chunk: str, speaking: bool, asked: str, first: str
) -> None:
    server = Server()
    got = list(pieces(server, "c1", "hi", chunk, speaking))  # type: ignore[arg-type]
    assert server.modes == [asked]
    assert got[0] == first
    assert "".join(got) == "".join(TOKENS)


def test_spoken_clause_mode_cuts_the_rest_at_clauses() -> None:
    got = list(pieces(Server(), "c1", "hi", "clause", True))  # type: ignore[arg-type]
    assert got == [
        "Streaming speech starts with",
        " a simple idea: ",
        "say each clause, ",
        "then the next.",
    ]
