"""How many examples the fuzzers run: CI's count, or more with FUZZ_EXAMPLES
(`make fuzz` sets 10,000)."""

from __future__ import annotations

import os


def examples(ci: int) -> int:
    """`ci`, or FUZZ_EXAMPLES when it is set and larger."""
    raw = os.environ.get("FUZZ_EXAMPLES", "").strip()
    return max(ci, int(raw)) if raw else ci
