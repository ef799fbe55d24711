"""The load benchmark runs end to end: a tiny run, checked for correctness, not timings.

It starts its own model server, Daphne, clients and database (`chat_bench_smoke` on
the PostgreSQL of DATABASE_URL, else a temporary SQLite file) and uses REDIS_URL or a
throwaway redis-server, exactly as `make bench` does, only with 2 users and short
answers. The figures go to a temporary directory, never to docs/.
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
    [flat] = report["flat_out"]
    assert (flat["mode"], flat["correct"]) == ("sentence", 2), flat
    assert report["raw_layer"]["messages"] == 200

    markdown = (tmp_path / "performance.md").read_text()
    assert "<!-- bench:begin -->" in markdown and "<!-- bench:end -->" in markdown
    assert "| after | 1 | 2 | 2/2 |" in markdown
    png = tmp_path / "performance.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
