"""The benchmarks run end to end: tiny runs, checked for correctness, not timings.

It starts its own model server, Daphne, clients and database (`chat_bench_smoke` on
the PostgreSQL of DATABASE_URL, else a temporary SQLite file) and uses REDIS_URL or a
throwaway redis-server, exactly as `make bench` does, only with 2 users and short
answers. The figures go to a temporary directory, never to docs/. The API benchmark
(bench/api_bench.py) runs the same way on its database `chat_apibench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_load_bench_smoke(tmp_path: Path) -> None:
    report_json = tmp_path / "report.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "load_bench.py"),
        "--users=2",
        "--processes=1",
        "--tokens=20",
        "--tps=100",
        "--first-token-ms=50",
        "--clients=1",
        "--flat-out-users=2",
        "--flat-out-tokens=20",
        "--flat-out-modes=sentence",
        "--idle-sockets=0",
        "--raw-messages=200",
        "--raw-roundtrips=20",
        "--db-name=chat_bench_smoke",
        f"--out-dir={tmp_path}",
        f"--json={report_json}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    report = json.loads(report_json.read_text())
    [row] = report["rows"]
    assert (row["users"], row["correct"]) == (2, 2), row
    assert row["delivered_tokens"] == 2 * 20
    assert set(row["start_phases_ms"]) == {"auth", "exchange", "begin", "total"}, row
    [flat] = report["flat_out"]
    assert (flat["mode"], flat["correct"]) == ("sentence", 2), flat
    assert report["raw_layer"]["messages"] == 200

    markdown = (tmp_path / "performance.md").read_text()
    assert "<!-- bench:begin -->" in markdown and "<!-- bench:end -->" in markdown
    assert "| after | 1 | 2 | 2/2 |" in markdown
    png = tmp_path / "performance.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(180)
def test_api_bench_smoke(tmp_path: Path) -> None:
    """WebSocket, SSE and /v1 each carry every answer whole: the bench exits 1 on a lost,
    wrong or failed answer, and every row must be 2/2."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "api_bench.py"),
        "--users=2",
        "--messages=1",
        "--rounds=1",
        "--tokens=20",
        "--token-delay-ms=10",
        "--first-token-ms=50",
        f"--out-dir={tmp_path}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    report = json.loads((tmp_path / "api_bench.json").read_text())
    rows = {row["transport"]: row for row in report["rows"]}
    assert sorted(rows) == ["sse", "v1", "ws"]
    for row in rows.values():
        assert (row["answers"], row["correct"], row["problems"]) == (2, 2, []), row
        assert row["ttft_ms"]["n"] == row["total_ms"]["n"] == 2, row
    assert report["problems"] == []
    assert "| SSE POST / WebSocket, token |" in (tmp_path / "api_bench.md").read_text()
    # The server's start by phase, read from its /metrics around each round.
    phases = report["start_phases"]
    for door in ("websocket", "sse", "v1"):
        assert phases[f"{door}/total"]["count"] == 2, phases
        assert phases[f"{door}/exchange"]["mean_ms"] > 0, phases
    assert "| websocket | 2 |" in (tmp_path / "api_bench.md").read_text()


@pytest.mark.timeout(240)
def test_doors_bench_smoke(tmp_path: Path) -> None:
    """Three doors at two loads, this checkout against HEAD in a worktree: every answer
    whole on both sides, each row's start by phase read from the server."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "doors_bench.py"),
        "--users=1,2",
        "--rounds=1",
        "--tokens=12",
        "--tps=100",
        "--first-token-ms=50",
        "--before-ref=HEAD",
        "--db-name=chat_doors_smoke",
        f"--out-dir={tmp_path}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=230)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    report = json.loads((tmp_path / "doors_bench.json").read_text())
    rows = {(r["version"], r["door"], r["users"]): r for r in report["rows"]}
    assert sorted(rows) == sorted(
        (v, d, n) for v in ("after", "before") for d in ("sse", "v1", "ws") for n in (1, 2)
    )
    for row in rows.values():
        assert (row["answers"], row["correct"], row["problems"]) == (row["users"],) * 2 + ([],)
        assert row["to_model_p50_ms"] > 0 and row["lateness_p99_ms"] is not None, row
        assert set(row["phases_ms"]) == {"auth", "exchange", "begin", "total"}, row
    markdown = (tmp_path / "doors_bench.md").read_text()
    assert "| WebSocket | 2 |" in markdown and "| /v1 (openai client) | 1 |" in markdown
    assert "Knee (largest N with p99 lateness under 100 ms): WebSocket 2 → 2" in markdown


@pytest.mark.parametrize(
    ("pieces", "end", "late"),
    [
        # On time: each piece 10 ms after its token's write.
        ([(1.01, "R0"), (1.03, " a."), (1.05, " b.")], 1.05, [0.01, 0.01, 0.01]),
        # Two tokens in one piece: measured against the later token's write.
        ([(1.04, "R0 a."), (1.05, " b.")], 1.05, [0.02, 0.01]),
        # The last token never arrived: as late as the client's end of reading.
        ([(1.01, "R0"), (1.03, " a.")], 1.5, [0.01, 0.01, 1.5 - 1.04]),
    ],
)
def test_doors_bench_lateness(
    monkeypatch: pytest.MonkeyPatch,
    pieces: list[tuple[float, str]],
    end: float,
    late: list[float],
) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import doors_bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    monkeypatch.setattr(doors_bench, "reply_tokens", lambda prompt: ["R0", " a.", " b."])
    answer = {"prompt": "p", "pieces": pieces, "end": end}
    record = {"arrival": 1.0, "emit": [0.0, 0.02, 0.04]}
    assert doors_bench.lateness(answer, record) == pytest.approx(late)


def test_api_bench_check_finds_wrong_answers() -> None:
    """The bench's check flags a lost piece of text, a saved text that differs, a lost
    save and an answer that never ended."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from api_bench import check
        from model_server import reply_text
    finally:
        sys.path.remove(str(ROOT / "bench"))
    prompt = "apibench check tokens=12"
    text = reply_text(prompt)
    answer = {
        "prompt": prompt,
        "conversation": "c1",
        "answer_id": "a1",
        "sent": 1.0,
        "first": 1.1,
        "end": 2.0,
        "text": text,
        "status": "complete",
        "errors": [],
    }
    saved = {"c1": [{"id": "a1", "status": "complete", "content": text}]}
    assert check(answer, saved, 1) == ""
    assert "differs" in check({**answer, "text": text[:-3]}, saved, 1)
    other = {"c1": [{"id": "a1", "status": "complete", "content": text + "x"}]}
    assert "saved" in check(answer, other, 1)
    assert "not saved" in check(answer, {"c1": [{**saved["c1"][0], "id": "a2"}]}, 1)
    assert "2 saved answers" in check(answer, {"c1": saved["c1"] * 2}, 1)
    assert check({**answer, "end": None}, saved, 1) == "no end"
    assert "500" in check({**answer, "errors": ["HTTP 500"]}, saved, 1)


@pytest.mark.parametrize(
    ("layout", "found"),
    [
        ({"tokens.py": "X = 'flat'"}, "flat"),  # f59f16e and before
        ({"accounts/api_tokens.py": "X = 'layered'", "tokens.py": "X = 'flat'"}, "layered"),
        ({"accounts/api_tokens.py": "import no_such_dependency", "tokens.py": "X = 1"}, "error"),
    ],
)
def test_db_agent_finds_moved_names(tmp_path: Path, layout: dict[str, str], found: str) -> None:
    """The database agent serves this checkout and the version before: a name that moved
    is taken from where the checkout has it; an import failing inside that module is an
    error, not a reason to try the old place."""
    for name, text in layout.items():
        path = tmp_path / "chat" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(f"{text}\ntoken_create = lambda: X\n")
    (tmp_path / "chat" / "__init__.py").touch()
    code = (
        "import sys; sys.path[:0] = sys.argv[1:]; from db_agent import chat_name\n"
        "try: print(chat_name('token_create')())\n"
        "except ModuleNotFoundError as exc: print('error', exc.name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(ROOT / "bench")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == found, result.stdout


@pytest.mark.timeout(240)
def test_voice_bench_smoke(tmp_path: Path) -> None:
    """Every (engine, mode) cell of a tiny voice run has its figures, first audio no later
    than the last, and valid WAVs (espeak-ng for real, the VOICEVOX stub's sine); the
    bench exits 1 when a run's text or WAVs are wrong."""
    markdown = tmp_path / "voice.md"
    command = [
        sys.executable,
        str(ROOT / "bench" / "voice_bench.py"),
        "--runs=1",
        "--langs=en",
        "--paces=200",
        "--first-token-ms=50",
        "--voicevox-base-ms=5",
        "--voicevox-per-char-ms=0.5",
        "--db-name=chat_voicebench_smoke",
        f"--out-dir={tmp_path}",
        f"--markdown={markdown}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=230)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]

    report = json.loads((tmp_path / "voice_bench.json").read_text())
    cells = {(row["engine"], row["mode"]): row for row in report["rows"]}
    modes = ("clause", "sentence", "line", "whole", "page-clause", "page-sentence")
    assert sorted(cells) == sorted((e, m) for e in ("espeak", "voicevox") for m in modes)
    for row in cells.values():
        keys = ("first_token", "first_chunk", "first_audio", "last_audio")
        assert all(row[key] is not None for key in keys), row
        assert row["first_audio"] <= row["last_audio"], row
        assert row["problems"] == [], row
        check = row["wav_check"]
        assert check["count"] == check["valid"] == row["wavs"] >= 1, row
    assert cells[("espeak", "whole")]["wavs"] == 1
    assert cells[("voicevox", "clause")]["wav_check"]["rates"] == [24000]
    assert cells[("voicevox", "page-clause")]["wav_check"]["rates"] == [24000]
    assert cells[("espeak", "page-clause")]["wav_check"]["rates"] == [22050]
    assert {g["engine"] for g in report["goals"]} == {"espeak", "voicevox"}
    text = markdown.read_text()
    assert "<!-- bench:begin -->" in text and "| espeak | en | 200 | clause |" in text
