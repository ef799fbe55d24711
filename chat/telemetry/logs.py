"""How this process writes its logs: plain lines for `make run`, one JSON object per
line in production (LOG_FORMAT=json), and no access-log line per probe or scrape.

Log collectors (Loki, CloudWatch, Elastic) read a JSON line as fields without a
parser per format, and a traceback folded into a field stays one entry instead of
thirty. Daphne writes its access log straight to a stream, not through `logging`:
`QuietAccessLog` replaces its writer (chatsite.asgi installs it) so that health
checks and metric scrapes, every few seconds from every prober, do not drown the
log, so that a logged path never carries its query string (`/api/search/?q=` holds the
words a user searched for: no message text in logs), and so that with LOG_FORMAT=json
the access lines are JSON too.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from daphne.access import AccessLogGenerator

# Paths answered by chat.edge.middleware.OperationsMiddleware: not written to the access log.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# A record carrying this attribute (`extra={EVENT_FIELDS: {...}}`) is a structured
# event (chat/events.py): the JSON formatter puts its fields at the top level.
EVENT_FIELDS = "event_fields"

_process: tuple[int, str] | None = None


def process_name() -> str:
    """`<hostname>:<pid>`: which replica and which process wrote a line or answered."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:  # computed again after a fork
        _process = (pid, f"{socket.gethostname()}:{pid}")
    return _process[1]


def timestamp(seconds: float | None = None) -> str:
    """ISO 8601 in UTC with milliseconds, as log collectors parse it."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, process, and `exc`
    (the traceback text) when there is one; a structured event's fields on top."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": process_name(),
        }
        fields = getattr(record, EVENT_FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def quiet_path(path: str) -> bool:
    """True for a probe's or a scrape's path (its query string ignored)."""
    return without_query(path) in QUIET_PATHS


def without_query(path: str) -> str:
    """A request's path as logged: without its query string (search terms, cursors)."""
    return path.split("?", 1)[0]


def access_entry(protocol: str, action: str, details: Mapping[str, object]) -> dict[str, object]:
    """One of Daphne's access-log actions (an HTTP request done, a WebSocket
    connecting, connected, rejected or disconnected) as a JSON log entry."""
    path = details.get("path")
    entry: dict[str, object] = {
        "ts": timestamp(),
        "level": "INFO",
        "logger": "daphne.access",
        "message": f"{protocol} {action} {path}",
        "process": process_name(),
        "protocol": protocol,
        "action": action,
        "client": details.get("client"),
        "path": path,
    }
    if protocol == "http":
        taken = details.get("time_taken")
        entry["message"] = f"{details.get('method')} {path} {details.get('status')}"
        entry.update(
            method=details.get("method"),
            status=details.get("status"),
            size=details.get("size"),
            duration_ms=round(taken * 1000) if isinstance(taken, int | float) else None,
        )
    return entry


class QuietAccessLog(AccessLogGenerator):  # type: ignore[misc]  # Daphne has no type hints
    """Daphne's access log, without the lines of QUIET_PATHS nor any query string;
    JSON lines (to the same stream) when LOG_FORMAT=json. WebSocket lines keep
    Daphne's shape in plain mode."""

    json_lines = False

    def __call__(self, protocol: str, action: str, details: Mapping[str, object]) -> None:
        if protocol == "http" and quiet_path(str(details.get("path", ""))):
            return
        if isinstance(path := details.get("path"), str):
            details = {**details, "path": without_query(path)}
        if not self.json_lines:
            super().__call__(protocol, action, details)
        elif (protocol, action) == ("http", "complete") or protocol == "websocket":
            entry = access_entry(protocol, action, details)
            self.stream.write(json.dumps(entry, ensure_ascii=False) + "\n")


def install_quiet_access_log(log_format: str) -> None:
    """Under Daphne's command line, make its access log a QuietAccessLog.

    Daphne's CLI loads the application (this runs from chatsite.asgi) before it builds
    its access logger from the name `AccessLogGenerator` in `daphne.cli`; that name is
    pointed here. There is no Daphne option to leave out some paths: the only
    command-line alternative drops the whole access log (`-v 0`)."""
    cli = sys.modules.get("daphne.cli")
    if cli is None:
        return
    QuietAccessLog.json_lines = log_format == "json"
    cli.AccessLogGenerator = QuietAccessLog  # type: ignore[attr-defined]  # set on a module
