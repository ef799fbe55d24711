"""The pace of posts: at most one per interval per channel (Slack allows about one
message a second per channel); chunks that arrive while a post waits for its turn go
out merged into it."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_POST_CHARS = 3000  # Slack advises at most 4,000 characters of text per message


@dataclass
class Pace:
    """When each channel may be posted to next (times from one monotonic clock)."""

    interval: float  # seconds between two posts to one channel
    next_at: dict[str, float] = field(default_factory=dict)

    def slot(self, channel: str, now: float) -> float:
        """Take the channel's next turn: when the post may go (`now` at the earliest)."""
        at = max(now, self.next_at.get(channel, now))
        self.next_at[channel] = at + self.interval
        return at


def interval_of(posts_per_second: float) -> float:
    """Seconds between posts; 0 (no wait) for a rate of 0 or less."""
    return 1.0 / posts_per_second if posts_per_second > 0 else 0.0


def merged(chunks: list[str]) -> list[str]:
    """The posts for chunks that go together: their text joined, leading newlines and
    trailing whitespace trimmed, nothing for blank text, split at lines into posts of
    MAX_POST_CHARS at most."""
    text = "".join(chunks).lstrip("\n").rstrip()
    if not text.strip():
        return []
    posts: list[str] = []
    while len(text) > MAX_POST_CHARS:
        cut = text.rfind("\n", 0, MAX_POST_CHARS)
        cut = cut if cut > 0 else MAX_POST_CHARS
        posts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    if text.strip():
        posts.append(text)
    return [p for p in posts if p.strip()]
