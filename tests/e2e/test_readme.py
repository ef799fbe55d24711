"""Every shell and Python block of README.md runs as written, in order, against a real
Daphne server, as a reader following the README would run them.

The convention: a fenced block tagged `sh`, `bash`, `shell` or `python` is run unless
the line before it is an HTML comment that says `not run in CI: <why>` (the server
itself, the test suite itself, an environment template with placeholders). Blocks run
in one shell session's order: what a block `export`s the next ones see (the reader's
`TOKEN`). The only rewrite is the address: the README's `http://127.0.0.1:8000` is
the test server's. A block passes when it exits 0; the Python block's and the curl
block's outputs are checked for an answer.

The reader has signed up as `alice` (the README's "create an account"), so the test
makes that account; everything else (the token too) the README's blocks do."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.servers import REPO_ROOT, Server, manage

README = REPO_ROOT / "README.md"
RUN_LANGUAGES = {"sh": "sh", "bash": "sh", "shell": "sh", "python": "python"}
NOT_RUN = re.compile(r"<!--[^>]*?not run in CI:\s*(?P<why>[^>]+?)\s*-->")
README_ADDRESS = "http://127.0.0.1:8000"
BLOCK_TIMEOUT = 60
USER = "alice"  # the README's reader


@dataclass
class Block:
    line: int  # 1-based, of the opening fence
    language: str  # "sh" or "python"
    code: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    """The README's fenced sh/bash/shell/python blocks, top-level or indented."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = re.fullmatch(r"(\s*)```(\w*)\s*", lines[index])
        if opening is None:
            index += 1
            continue
        indent, tag = opening.groups()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if tag in RUN_LANGUAGES:
            previous = lines[index - 1] if index else ""
            marked = NOT_RUN.search(previous)
            code = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
            why = marked.group("why") if marked else None
            blocks.append(Block(index + 1, RUN_LANGUAGES[tag], code + "\n", why))
        index = end + 1
    return blocks


def test_the_readme_marks_only_what_cannot_run_here() -> None:
    """Skipped blocks are few and each says why; the scripts' blocks are all run."""
    blocks = readme_blocks(README.read_text())
    skipped = [block for block in blocks if block.skip_reason]
    # make run, make test, make run against a model server of one's own, and two
    # environment templates with placeholders.
    assert len(skipped) <= 5, [(b.line, b.skip_reason) for b in skipped]
    run = [block for block in blocks if not block.skip_reason]
    assert any(b.language == "python" for b in run) and any(b.language == "sh" for b in run)
    assert all("TOKEN" not in b.code for b in skipped)


def run_block(
    block: Block, env: dict[str, str], workdir: Path, url: str
) -> tuple[str, dict[str, str]]:
    """Run one block; its output, and the environment it leaves (what it exported)."""
    code = block.code.replace(README_ADDRESS, url)
    state = workdir / f"env-after-{block.line}"
    if block.language == "sh":
        script = f"set -euo pipefail\n{code}\nenv -0 > {state}\n"
        command = ["bash", "-c", script]
    else:
        command = [sys.executable, "-c", code]
    result = run_in_own_group(command, env)
    assert result.returncode == 0, (
        f"README.md line {block.line} ({block.language}) failed with {result.returncode}:\n"
        f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    if block.language != "sh":
        return result.stdout, env
    pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    return result.stdout, dict(pairs)


def run_in_own_group(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a block in a process group of its own, killed whole if it outlives
    BLOCK_TIMEOUT: a block that starts a server (one not marked) leaves nothing behind."""
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\n(killed after {BLOCK_TIMEOUT} s: does it start a server?)"
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_every_readme_block_runs_as_written(server: Server, server_env: dict) -> None:
    manage(
        server_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.filter(username={USER!r}).exists() or "
        f"get_user_model().objects.create_user({USER!r}, password='Readme-pass-123')",
    )
    env = {**server_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TOKEN", None)
    workdir = Path(server_env["E2E_WORKDIR"])
    blocks = [block for block in readme_blocks(README.read_text()) if not block.skip_reason]
    outputs: dict[str, str] = {"sh": "", "python": ""}
    for block in blocks:
        output, env = run_block(block, env, workdir, server.url)
        outputs[block.language] += output
    assert env.get("TOKEN", "").startswith("chat_"), "the README never sets TOKEN"
    assert "event: chunk" in outputs["sh"], "the curl block streamed no answer"
    assert outputs["python"].strip(), "the OpenAI client printed no answer"
    # What the README says of them: the /v1 request's conversation is listed apart
    # (the curl block's and the terminal client's are listed, as `api`; the imported
    # ChatGPT conversations too, as `web`: the source of an import is not a door).
    assert set(listed_sources(server.url, env["TOKEN"], "")) == {"api", "web"}
    assert listed_sources(server.url, env["TOKEN"], "?source=openai") == ["openai"]


def listed_sources(url: str, token: str, query: str) -> list[str]:
    """The sources of the conversations GET /api/conversations/{query} lists."""
    request = urllib.request.Request(
        f"{url}/api/conversations/{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [c.get("source", "?") for c in json.loads(response.read())["conversations"]]
