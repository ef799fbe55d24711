"""The front end's unit tests (tests/js/*.test.mjs) under `node --test`, so the
README's one test command runs them too. Skipped without Node.js, except in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("node") is None and os.environ.get("CI", "").lower() != "true",
    reason="Node.js is not installed (apt-get install nodejs)",
)
def test_the_front_end_unit_tests_pass() -> None:
    tests = sorted(str(path) for path in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no front-end tests found"
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, "--test", *tests], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
