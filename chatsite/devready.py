"""`make run`'s last line: once the development server answers, where to open it and
what it runs on.

Started next to the server (`python -m chatsite.devready HOST PORT PID &`, then `exec
daphne` as PID): it polls /healthz, prints the line and ends; it also ends, silently,
when the server's process ends first (it has said why), and after READY_TIMEOUT
seconds with a line on stderr.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

READY_TIMEOUT = 180.0
POLL_SECONDS = 0.2
# A server listening on every address is opened on loopback.
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def setup() -> str:
    """What this server runs on, from the settings it reads: database, channel layer,
    model."""
    from chatsite import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    database = "SQLite" if engine.endswith("sqlite3") else "PostgreSQL"
    memory = settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")
    layer = "in-memory layer" if memory else "Redis layer"
    configured = (
        settings.LLM_FACTORY
        or settings.LLM_MODELS
        or settings.OPENAI_BASE_URL
        or settings.OPENAI_API_KEY
    )
    model = "configured model" if configured else "offline demo model"
    return f"{database}, {layer}, {model}"


def origin(host: str, port: str) -> str:
    host = WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone (or the pid reused by another)
        return False
    return True


def main(host: str, port: str, pid: str) -> int:
    base = origin(host, port)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not running(int(pid)):
            return 1
        if answers(f"{base}/healthz"):
            print(
                f"Development server ({setup()}) ready: open {base}/accounts/signup/",
                flush=True,
            )
            return 0
        time.sleep(POLL_SECONDS)
    print(f"The server did not answer at {base} within {READY_TIMEOUT:.0f} s.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
