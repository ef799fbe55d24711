"""The JSON log format and Daphne's quiet access log (chat/logs.py)."""

from __future__ import annotations

import io
import json
import logging
import sys
import types

import pytest

from chat.telemetry import logs
from chat.telemetry.logs import JsonFormatter, QuietAccessLog, process_name


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("chat.x", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_object_on_one_line() -> None:
    line = JsonFormatter().format(record("answer %s failed\nbadly: 日本語", "m-1"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {
        "ts": entry["ts"],
        "level": "WARNING",
        "logger": "chat.x",
        "message": "answer m-1 failed\nbadly: 日本語",
        "process": process_name(),
    }
    assert entry["ts"].endswith("Z") and "T" in entry["ts"]


def test_a_traceback_is_folded_into_a_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = record("it failed")
        made.exc_info = sys.exc_info()
    line = JsonFormatter().format(made)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "it failed"
    assert entry["exc"].startswith("Traceback") and "ValueError: boom" in entry["exc"]


def test_an_events_fields_are_top_level() -> None:
    fields = {"event": "socket_closed", "user_id": 7, "code": 1000}
    entry = json.loads(JsonFormatter().format(record("{}", **{logs.EVENT_FIELDS: fields})))
    assert entry["event"] == "socket_closed" and entry["user_id"] == 7 and entry["code"] == 1000


def test_process_name_is_host_and_pid() -> None:
    host, pid = process_name().rsplit(":", 1)
    assert host and int(pid) > 0


def http(path: str, status: int = 200) -> dict[str, object]:
    return {
        "path": path,
        "status": status,
        "method": "GET",
        "client": "10.0.0.9:5555",
        "time_taken": 0.0123,
        "size": 42,
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/readyz?verbose=1"])
def test_probes_and_scrapes_leave_no_access_line(path: str) -> None:
    stream = io.StringIO()
    QuietAccessLog(stream)("http", "complete", http(path))
    assert stream.getvalue() == ""


def test_other_requests_keep_daphnes_access_line() -> None:
    stream = io.StringIO()
    access = QuietAccessLog(stream)
    access("http", "complete", http("/api/conversations/", 401))
    access("websocket", "connected", {"path": "/ws/chat/1/", "client": "10.0.0.9:5555"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("10.0.0.9:5555 - - [")
    assert '"GET /api/conversations/" 401 42' in lines[0]
    assert '"WSCONNECT /ws/chat/1/"' in lines[1]


def test_json_access_lines(monkeypatch) -> None:
    monkeypatch.setattr(QuietAccessLog, "json_lines", True)
    stream = io.StringIO()
    access = QuietAccessLog(stream)
    access("http", "complete", http("/healthz"))
    access("http", "complete", http("/"))
    access("websocket", "disconnected", {"path": "/ws/chat/1/", "client": "10.0.0.9:5555"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["logger"] == "daphne.access" and first["message"] == "GET / 200"
    assert (first["path"], first["status"], first["size"]) == ("/", 200, 42)
    assert first["duration_ms"] == 12
    assert second["action"] == "disconnected" and second["path"] == "/ws/chat/1/"


def test_installed_only_under_daphnes_command_line(monkeypatch) -> None:
    """Daphne's CLI builds its access logger from the name in daphne.cli after it loads
    the application: that name is pointed at QuietAccessLog."""
    import daphne.access

    cli = types.ModuleType("daphne.cli")
    cli.AccessLogGenerator = daphne.access.AccessLogGenerator
    monkeypatch.setattr(QuietAccessLog, "json_lines", False)
    monkeypatch.delitem(sys.modules, "daphne.cli", raising=False)
    logs.install_quiet_access_log("json")
    assert QuietAccessLog.json_lines is False  # not under Daphne: nothing changed
    monkeypatch.setitem(sys.modules, "daphne.cli", cli)
    logs.install_quiet_access_log("json")
    assert cli.AccessLogGenerator is QuietAccessLog and QuietAccessLog.json_lines is True


@pytest.mark.parametrize("json_lines", [False, True], ids=["plain", "json"])
def test_access_lines_carry_no_query_string(monkeypatch, json_lines: bool) -> None:
    """A search's words are in its query string: the logged path stops before it, in
    both formats and for sockets too (issue #21: the README promises no message text
    in logs)."""
    monkeypatch.setattr(QuietAccessLog, "json_lines", json_lines)
    stream = io.StringIO()
    access = QuietAccessLog(stream)
    access("http", "complete", http("/api/search/?q=my+secret+words"))
    access("websocket", "connected", {"path": "/ws/chat/1/?q=secret", "client": "10.0.0.9:1"})
    text = stream.getvalue()
    assert "/api/search/" in text and "/ws/chat/1/" in text
    assert "secret" not in text and "?" not in text
