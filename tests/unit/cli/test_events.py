"""Server-sent events as the terminal client reads them, and where an answer stands."""

from __future__ import annotations

import pytest

from chat.cli.events import Event, Progress, parse_events


@pytest.mark.parametrize(
    ("lines", "events"),
    [
        (
            ["id: a:0", "event: start", 'data: {"type": "start"}', ""],
            [Event("start", {"type": "start"}, "a:0")],
        ),
        ([": keepalive", "", "event: end", 'data: {"s": 1}', ""], [Event("end", {"s": 1})]),
        (["event: chunk", 'data: {"text": "cut'], []),  # cut short: never seen
        (
            ["event: chunk\r\n", 'data: {"text":\r\n', 'data: "x"}\r\n', "\r\n"],
            [Event("chunk", {"text": "x"})],
        ),
        (["", "", "id: x:1", ""], []),  # no data: no event
    ],
)
def test_parse_events(lines: list[str], events: list[Event]) -> None:
    assert list(parse_events(lines)) == events


def test_progress_keeps_the_last_id_and_the_end() -> None:
    progress = Progress()
    shown = [
        progress.take(Event("message", {"type": "message"}, "m:0")),
        progress.take(Event("start", {"type": "start"}, "m:0")),
        progress.take(Event("chunk", {"text": "Hello. "}, "m:7")),
        progress.take(Event("chunk", {"text": ""}, "m:7")),
    ]
    assert shown == [None, None, "Hello. ", ""]
    assert progress.last_id == "m:7" and not progress.ended
    progress.take(Event("error", {"code": "provider_error", "message": "down"}, "m:7"))
    progress.take(Event("end", {"status": "error"}, "m:7"))
    assert progress.ended and progress.status == "error"
    assert progress.error == {"code": "provider_error", "message": "down"}
