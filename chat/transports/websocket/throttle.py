"""One connection's frame budget: a token bucket, pure (the caller passes the time).

A socket may send `burst` frames at once and `rate` frames per second after that;
a client over it is told why and closed (1008), so one socket cannot make the server
parse, validate and answer frames as fast as it can write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # the most tokens the bucket holds
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float) -> bool:
        """Spend one token at time `now` (seconds); False when there is none left."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
