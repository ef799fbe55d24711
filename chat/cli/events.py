"""Server-sent events read line by line, and where an answer stands (pure): the
events' ids are `<answer id>:<characters sent>`, what a reconnect resumes from."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    name: str
    data: dict[str, Any]
    id: str | None = None


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """Events from the stream's lines (comments such as keep-alives skipped). An event
    is only yielded once its blank line arrived: one cut short is never seen."""
    fields: dict[str, str] = {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if "data" in fields:
                data = json.loads(fields["data"])
                yield Event(fields.get("event", "message"), data, fields.get("id"))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data" and name in fields:  # a multi-line data field
                value = fields[name] + "\n" + value
            fields[name] = value


@dataclass
class Progress:
    """One answer as this client has it: the last event id seen and whether it ended."""

    last_id: str | None = None
    ended: bool = False
    status: str | None = None
    error: dict[str, Any] | None = None
    text: list[str] = field(default_factory=list)

    def take(self, event: Event) -> str | None:
        """Record an event; the text to show, for a chunk."""
        if event.id is not None:
            self.last_id = event.id
        if event.name == "error":
            self.error = event.data
        elif event.name == "end":
            self.ended = True
            self.status = event.data.get("status")
        elif event.name == "chunk":
            text = str(event.data.get("text", ""))
            self.text.append(text)
            return text
        return None
