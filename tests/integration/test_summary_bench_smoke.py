"""bench/summary_bench.py runs end to end (issue #25): a tiny run, checked for its
report, not its timings. Its own database (`chat_summarybench_smoke` on the
PostgreSQL of DATABASE_URL, else SQLite) and REDIS_URL or a throwaway redis-server;
the figures go to a temporary directory, never to docs/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_summary_bench_smoke(tmp_path: Path) -> None:
    report_json = tmp_path / "report.json"
    out = tmp_path / "performance.md"
    command = [
        sys.executable,
        str(ROOT / "bench" / "summary_bench.py"),
        "--conversations=1",
        "--first-token-ms=20",
        "--tps=500",
        "--db-name=chat_summarybench_smoke",
        f"--out={out}",
        f"--json={report_json}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    report = json.loads(report_json.read_text())
    first, reuse = report["rows"][1], report["rows"][2]
    assert first["n"] == reuse["n"] == 1
    # The cut sends up to the budget; with the summary, about half of it.
    assert reuse["chars"] < first["chars"] <= report["budget"] + 1000
    assert "<!-- summary-bench:begin -->" in out.read_text()
