"""The terminal client, `python -m chat.cli`, against a real Daphne server and the demo
model, run as a user runs it: with a prompt, with piped standard input, in a
pseudo-terminal, speaking with espeak-ng into WAV files, through a connection that
drops mid-answer. It runs without Django settings (DJANGO_SETTINGS_MODULE removed)."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chat.speech.espeak import EspeakEngine
from chat.speech.text import speakable
from tests.e2e.api_client import ApiUser, api_user, new_conversation, saved_messages
from tests.e2e.proxy import CuttableProxy
from tests.e2e.servers import REPO_ROOT, Server, another_server, free_port
from tests.support.speech_stubs import SpeechStub, needs_espeak


@pytest.fixture(scope="module")
def user(server_env: dict) -> ApiUser:
    return api_user(server_env)


def cli_env(token: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    env.pop("CHAT_TOKEN", None)
    env.pop("CHAT_URL", None)
    return {**env, "CHAT_TOKEN": token} if token else env


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_prompt_argument_is_answered_and_saved(server: Server, user: ApiUser) -> None:
    """The answer printed is the one saved, in a new conversation that `list` shows."""
    done = cli("--url", server.url, "/echo One. Two! Three?", env=cli_env(user.token))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "One. Two! Three?\n"
    conversation = done.stderr.split("conversation ", 1)[1].split()[0]
    assert saved_messages(server.url, user, conversation)[-1]["content"] == "One. Two! Three?"
    listed = cli("--url", server.url, "--token", user.token, "list", env=cli_env())
    assert listed.returncode == 0 and conversation in listed.stdout


def test_piped_stdin_into_a_conversation_made_with_new(server: Server, user: ApiUser) -> None:
    made = cli("--url", server.url, "new", "--title", "piped", env=cli_env(user.token))
    assert made.returncode == 0, made.stderr
    conversation = made.stdout.strip()
    args = ("--url", server.url, "--conversation", conversation, "--chunk", "line")
    done = cli(*args, env=cli_env(user.token), stdin="/echo first line\nsecond line\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "first line\nsecond line\n"
    assert [m["role"] for m in saved_messages(server.url, user, conversation)] == [
        "user",
        "assistant",
    ]


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {marker!r}; the terminal showed {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 4096)


def test_the_repl_in_a_terminal_answers_each_line_until_ctrl_d(
    server: Server, user: ApiUser
) -> None:
    conversation = new_conversation(server.url, user)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "chat.cli", "--url", server.url, "--conversation", conversation],
        cwd=REPO_ROOT,
        env=cli_env(user.token),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    seen = bytearray()
    try:
        _read_until(primary, b"> ", seen)
        os.write(primary, b"/echo Hello from the terminal.\n")
        _read_until(primary, b"Hello from the terminal.\r\n> ", seen)
        os.write(primary, b"/echo And again.\n")
        _read_until(primary, b"And again.\r\n> ", seen)
        os.write(primary, b"\x04")  # Ctrl-D
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    answers = [m["content"] for m in saved_messages(server.url, user, conversation)]
    asked = ["/echo Hello from the terminal.", "Hello from the terminal."]
    assert answers == [*asked, "/echo And again.", "And again."]


@needs_espeak
def test_speak_writes_one_wav_per_sentence_in_order(
    server: Server, user: ApiUser, tmp_path: Path
) -> None:
    """Each sentence's WAV is espeak-ng's for that sentence (the same bytes), numbered
    in the order the sentences came; Japanese ones in the Japanese voice."""
    sentences = [
        "**Streaming** is fast. ",
        "Speech follows each sentence. ",
        "こんにちは、世界。",
        "The end.",
    ]
    out = tmp_path / "wav"
    args = ("--url", server.url, "--speak", "--out", str(out), "/echo " + "".join(sentences))
    done = cli(*args, env=cli_env(user.token))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(sentences) + "\n"
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["0001.wav", "0002.wav", "0003.wav", "0004.wav"]
    engine = EspeakEngine()
    for file, sentence in zip(files, sentences, strict=True):
        assert file.read_bytes() == engine.synthesize(speakable(sentence)), file.name


def test_a_dropped_connection_resumes_without_repeating_a_word(
    server: Server, user: ApiUser
) -> None:
    """The connection is cut after the first sentence printed: the client resumes from
    the last event id, and what it printed is the saved answer exactly once."""
    said = " ".join(f"Sentence number {n} of a long answer." for n in range(1, 41))
    text = "/echo " + said
    proxy = CuttableProxy(server.port)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "chat.cli", "--url", proxy.url, "--chunk", "sentence", text],
            cwd=REPO_ROOT,
            env=cli_env(user.token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        seen = bytearray()
        _read_until(process.stdout.fileno(), b"Sentence number 1 of a long answer.", seen)
        proxy.cut()
        rest, errors = process.communicate(timeout=60)
    finally:
        proxy.close()
    assert process.returncode == 0, errors.decode()
    assert (bytes(seen) + rest).decode() == said + "\n"
    assert b"connection lost; resuming" in errors
    assert b"Traceback" not in errors


def test_refusals_are_one_line_on_stderr_and_a_non_zero_exit(server: Server, user: ApiUser) -> None:
    bad = cli("--url", server.url, "--token", "chat_not-a-token", "hello", env=cli_env())
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.startswith("error: ") and "HTTP 401" in bad.stderr
    port = free_port()
    gone = cli("--url", f"http://127.0.0.1:{port}", "list", env=cli_env(user.token))
    assert gone.returncode == 2 and gone.stderr.startswith(
        f"error: cannot reach http://127.0.0.1:{port}"
    )
    unknown = cli("--url", server.url, "--conversation", "nope", "hi", env=cli_env(user.token))
    assert unknown.returncode == 1 and "(not_found, HTTP 404)" in unknown.stderr
    failed = cli("--url", server.url, "/fail", env=cli_env(user.token))
    assert failed.returncode == 1 and "error: the answer failed" in failed.stderr
    none = cli("--url", server.url, "hello", env=cli_env())
    assert none.returncode == 1 and "CHAT_TOKEN" in none.stderr
    for done in (bad, gone, unknown, failed, none):
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_a_rate_limit_is_told_with_when_to_retry(server_env: dict) -> None:
    fresh = api_user(server_env)  # no message sent in the last minute
    with another_server("cli-rate", server_env, CHAT_RATE_LIMIT_PER_MINUTE="1") as limited:
        env = cli_env(fresh.token)
        assert cli("--url", limited.url, "/echo once", env=env).returncode == 0
        again = cli("--url", limited.url, "/echo twice", env=env)
    assert again.returncode == 1
    assert "(rate_limited, HTTP 429); retry after" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("engine", ["voicevox", "openai"])
def test_speak_through_voicevox_or_an_openai_compatible_engine(
    server: Server, user: ApiUser, tmp_path: Path, engine: str
) -> None:
    """`--voicevox URL --speaker ID` and `--speech-url URL` ask those engines for each
    sentence, in order."""
    with SpeechStub() as stub:
        chosen = (
            ["--voicevox", stub.url, "--speaker", "3"]
            if engine == "voicevox"
            else ["--speech-url", f"{stub.url}/v1", "--voice", "nova"]
        )
        args = ["--url", server.url, "--speak", "--out", str(tmp_path), *chosen]
        done = cli(*args, "/echo Hello there. こんにちは。", env=cli_env(user.token))
        asked = list(stub.asked)
    assert done.returncode == 0, done.stderr
    if engine == "voicevox":
        texts = [a.query["text"] for a in asked if a.path == "/audio_query"]
        assert {a.query["speaker"] for a in asked} == {"3"}
    else:
        texts = [a.body["input"] for a in asked]
        assert {a.body["voice"] for a in asked} == {"nova"}
    assert texts == ["Hello there.", "こんにちは。"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.wav", "0002.wav"]


def test_a_speech_engine_that_fails_is_told_and_the_text_still_comes(
    server: Server, user: ApiUser, tmp_path: Path
) -> None:
    with SpeechStub() as stub:
        stub.status = 500
        args = ["--url", server.url, "--speak", "--out", str(tmp_path), "--voicevox", stub.url]
        done = cli(*args, "/echo One. Two. Three.", env=cli_env(user.token))
    assert done.stdout == "One. Two. Three.\n"
    assert done.returncode == 3
    assert done.stderr.count("speech stopped: VOICEVOX refused audio_query (500)") == 1
    assert "Traceback" not in done.stderr


class FirstAnswerLost:
    """A loopback proxy whose first connection carries the request to the server but
    is closed as soon as the server starts answering: the client sent its message and
    never hears back. The later connections pass through."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            drop = not self.dropped.is_set()
            self.dropped.set()
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, drop), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, drop: bool) -> None:
        try:
            while data := source.recv(65536):
                if drop:
                    break
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


def test_a_message_whose_answer_never_arrived_is_not_sent_twice(
    server: Server, user: ApiUser
) -> None:
    """The connection drops after the message reached the server but before its answer
    began: the client sends it again with the same client_id, the server says it has
    it, and the client follows that answer from its start: one question, one answer,
    printed once."""
    conversation = new_conversation(server.url, user)
    proxy = FirstAnswerLost(server.port)
    try:
        args = ("--url", proxy.url, "--conversation", conversation, "--chunk", "sentence")
        done = cli(*args, "/echo Said once. Heard once.", env=cli_env(user.token))
    finally:
        proxy.close()
    assert proxy.dropped.is_set()
    assert done.returncode == 0, done.stderr
    assert "sending again" in done.stderr
    assert done.stdout == "Said once. Heard once.\n"
    saved = saved_messages(server.url, user, conversation)
    assert [m["role"] for m in saved] == ["user", "assistant"]
