"""Voice benchmark: time from send to the first playable audio, per chunk mode.

    python bench/voice_bench.py [--runs 3] [--langs en,ja] [--paces 30,60]
                                [--modes clause,sentence,line,whole]
                                [--engines espeak,voicevox] [--first-token-ms 300]
                                [--markdown docs/voice.md] [--out-dir bench/results]

The environment is load_bench's (bench/load_bench.py, whose pieces this imports): a
PostgreSQL database (--db-name, dropped and migrated first; SQLite when none answers),
Redis ($REDIS_URL, else a throwaway redis-server), one real Daphne of this checkout
with ChatOpenAI pointed (OPENAI_BASE_URL) at a loopback model server, and one user
with a personal API token. The model server is bench/model_server.py answering fixed
texts (below: ~150 tokens of English, ~150 of Japanese, several sentences and
clauses) at a realistic pace: the first token after --first-token-ms, then --paces
tokens a second (one model server and one Daphne per pace, in turn).

Each run sends one prompt into a fresh conversation over the SSE API with a chunk
mode, exactly as the terminal client does (chat.cli.api.ApiClient; with speech, its
clause mode reads tokens and cuts them with the voice's own chunker:
chat.cli.main.pieces), and speaks each chunk as it arrives through
chat.cli.speaker.Speaker (one thread synthesises the chunks in order, another takes
the WAVs): the sink records when each WAV is ready.
`whole` waits for the answer's end and then synthesises the whole text at once (what
a voice mode that plays nothing until the whole audio file exists does). `page-clause`
and `page-sentence` are the browser's voice mode instead: a WebSocket with `set_voice`
on, the server's own engine saying each piece (one Daphne per engine, its speech cache
emptied before each run), each `audio` frame's WAV downloaded as it comes. Engines:
espeak-ng for real, and bench/voicevox_stub.py on loopback (VOICEVOX's API, a
realistic time per character: see its docstring) through chat.speech's VoicevoxEngine.

Per run, from the send (the client's POST): model asked (the model server got the
model call: the server's own time before the model), first token (the model server's
write of the first token, from its log: same machine, same clock), first chunk (the client's
first chunk of text), first audio (the first WAV ready), last audio (the last WAV
ready). --runs runs per cell, the median reported; the cells take turns in each
repetition so drift hits all alike. Every run is checked: the chunks joined equal the
model's text, one WAV per spoken chunk, each WAV valid (read back with `wave`: frames,
a rate), first audio <= last audio. No timing is asserted; the exit status is 1 when a
check fails.

Output: a Markdown table between `<!-- bench:begin -->` and `<!-- bench:end -->` in
--markdown (created when missing), every figure in <out-dir>/voice_bench.json, and
whether the issue's goals hold per (engine, language, pace): clause mode's first audio
within 600 ms of the first token, and whole-answer first audio >= 3x clause mode's.
--profile runs the first pace's Daphne under py-spy (<out-dir>/voice_bench_profile.txt:
collapsed stacks, one line per stack with its sample count, for flamegraph.pl or grep).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

from load_bench import (  # noqa: E402
    BEGIN,
    CHILDREN,
    END,
    PYTHON,
    DbAgent,
    ModelServer,
    base_server_env,
    code_description,
    find_database,
    log,
    machine,
    migrate,
    raise_priority,
    read_line,
    redis_url,
    start_servers,
    write_markdown,
)

from chat.cli.api import ApiClient  # noqa: E402
from chat.cli.main import pieces  # noqa: E402
from chat.cli.speaker import Speaker  # noqa: E402
from chat.speech.base import Engine  # noqa: E402
from chat.speech.espeak import EspeakEngine  # noqa: E402
from chat.speech.text import speakable  # noqa: E402
from chat.speech.voicevox import VoicevoxEngine  # noqa: E402
from chat.streaming.delivery.chunking import SpeechChunker  # noqa: E402

# `page-clause` and `page-sentence`: the browser's voice mode, the server's engine
# (chat/streaming/stream/voice.py) speaking the answer over the WebSocket.
MODES = ("clause", "sentence", "line", "whole", "page-clause", "page-sentence")
ENGINES = ("espeak", "voicevox")
GOAL_AFTER_FIRST_TOKEN = 0.6  # s: clause mode's first audio after the first token
GOAL_RATIO = 3.0  # whole-answer first audio / clause-mode first audio

# The answers, fixed: several sentences, clauses (commas, semicolons, colons; 、),
# and a paragraph break, so every chunk mode has boundaries.
ANSWERS = {
    "en": (
        "Streaming speech starts with a simple idea: you do not have to wait for the whole "
        "answer before you begin to talk. When the model writes its first clause, the "
        "server can hand it to the voice, and the listener hears it while the rest is "
        "still being written. This matters most for long answers, because a full answer "
        "takes seconds to generate, and more to synthesise.\n"
        "There are trade-offs, of course. Short chunks start sooner, but they can sound "
        "choppy; longer sentences sound natural, yet they make the listener wait. A "
        "clause is usually a good compromise: it ends at a comma or a semicolon, it is "
        "long enough to carry its own intonation, and it arrives early.\n"
        "In practice, the first sound should come within a second of the question; "
        "after that, each piece only needs to be ready before the previous one has "
        "finished playing, which is easy when synthesis is faster than speech."
    ),
    "ja": (
        "音声の逐次合成は、とても単純な考え方から始まります。回答の全体を待たずに、"
        "最初の節ができた時点で話し始めればよいのです。モデルが最初の文を書くと、"
        "サーバーはそれを音声エンジンに渡し、利用者は続きが書かれている間にもう聞き始めます。"
        "長い回答ほど、この違いは大きくなります。\n"
        "もちろん、短い区切りは早く始まりますが、途切れ途切れに聞こえます。"
        "長い文は自然ですが、利用者を待たせます。読点で区切る節は、よい妥協点です。\n"
        "実際には、質問から一秒以内に最初の音が鳴るべきです。その後は、前の部分が鳴り終わる前に"
        "次の部分が用意できればよく、合成が発話より速ければ難しくありません。"
    ),
}


def answer_tokens(text: str, lang: str) -> list[str]:
    """The answer as the model streams it: English word by word (the space before each
    word in its token, as BPE tokenisers do), Japanese two characters at a time (about
    what a multilingual tokeniser gives, punctuation alone)."""
    if lang == "en":
        return re.findall(r"\s*\S+", text)
    tokens: list[str] = []
    for piece in re.findall(r"[、。\n]|[^、。\n]+", text):
        tokens += [piece[i : i + 2] for i in range(0, len(piece), 2)]
    return tokens


def prompt_for(lang: str) -> str:
    """A unique prompt naming the answer's language (the model server's key)."""
    return f"voice-bench lang={lang} {uuid.uuid4().hex}"


def model_reply_tokens(prompt: str) -> list[str]:
    """bench/model_server.py's answer, replaced: the fixed text of the prompt's language."""
    match = re.search(r"\blang=(\w+)", prompt)
    lang = match.group(1) if match and match.group(1) in ANSWERS else "en"
    return answer_tokens(ANSWERS[lang], lang)


def serve_model(argv: list[str]) -> None:
    """`voice_bench.py serve-model …`: bench/model_server.py answering ANSWERS."""
    import model_server

    model_server.reply_tokens = model_reply_tokens
    model_server.main(argv)


# --- Services ----------------------------------------------------------------------------


def start_child(command: list[str], workdir: Path, name: str) -> tuple[subprocess.Popen[str], int]:
    stderr = (workdir / f"{name}.log").open("w")
    process = CHILDREN.add(
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=raise_priority,
        )
    )
    stderr.close()
    line = read_line(process.stdout, 30, name) if process.stdout else ""
    if not line.startswith("READY "):
        raise RuntimeError(f"{name} did not start: {line!r} (see {workdir / name}.log)")
    return process, int(line.split()[1])


def start_model(workdir: Path, pace: float, first_token_ms: float) -> ModelServer:
    name = f"model-{pace:g}tps"
    log_path = workdir / f"{name}.jsonl"
    log_path.touch()
    command = [
        PYTHON,
        str(Path(__file__)),
        "serve-model",
        "--port",
        "0",
        "--log",
        str(log_path),
    ]
    command += ["--first-token-ms", str(first_token_ms), "--tps", str(pace)]
    process, port = start_child(command, workdir, name)
    return ModelServer(process, port, log_path)


def start_voicevox(workdir: Path, base_ms: float, per_char_ms: float) -> tuple[Any, int]:
    command = [PYTHON, str(BENCH_DIR / "voicevox_stub.py"), "--port", "0"]
    command += ["--base-ms", str(base_ms), "--per-char-ms", str(per_char_ms)]
    return start_child(command, workdir, "voicevox")


# --- One run -----------------------------------------------------------------------------


@dataclass
class Run:
    lang: str
    pace: float
    mode: str
    engine: str
    prompt: str = ""
    sent: float = 0.0
    model_asked: float | None = None
    first_token: float | None = None
    first_chunk: float | None = None
    first_audio: float | None = None
    last_audio: float | None = None
    chunks: list[str] = field(default_factory=list)
    wavs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float | None]:
        def since(t: float | None) -> float | None:
            return None if t is None else round(t - self.sent, 4)

        return {
            "model_asked": since(self.model_asked),
            "first_token": since(self.first_token),
            "first_chunk": since(self.first_chunk),
            "first_audio": since(self.first_audio),
            "last_audio": since(self.last_audio),
        }


def wav_facts(audio: bytes) -> dict[str, Any]:
    """What `wave` reads back from a WAV (frames, rate, seconds), or the error."""
    try:
        with wave.open(io.BytesIO(audio)) as read:
            frames, rate = read.getnframes(), read.getframerate()
    except (wave.Error, EOFError) as exc:
        return {"valid": False, "error": str(exc), "bytes": len(audio)}
    seconds = frames / rate if rate else 0.0
    return {
        "valid": frames > 0 and rate > 0,
        "frames": frames,
        "rate": rate,
        "seconds": seconds,
    }


def speak_run(run: Run, api: ApiClient, conversation: str, engine: Engine) -> None:
    """Send the prompt, speak the chunks as they come (or the whole answer at its end)
    as the terminal client does (its pieces: clause mode cut by the voice's own
    chunker; its Speaker), recording when each WAV is ready."""
    ready: list[float] = []
    lock = threading.Lock()

    def sink(audio: bytes) -> None:
        now = time.time()
        with lock:
            ready.append(now)
            run.wavs.append(wav_facts(audio))

    notices: list[str] = []
    speaker = Speaker(engine, sink, notices.append)
    whole = run.mode == "whole"
    run.sent = time.time()
    try:
        mode = "sentence" if whole else run.mode
        for chunk in pieces(api, conversation, run.prompt, mode, speaking=not whole):
            if run.first_chunk is None:
                run.first_chunk = time.time()
            run.chunks.append(chunk)
            if not whole:
                speaker.say(chunk)
        if whole:
            speaker.say("".join(run.chunks))
    finally:
        speaker.close()
    run.problems += notices
    if ready:
        run.first_audio, run.last_audio = ready[0], ready[-1]


def voice_pieces(chunks: list[str], mode: str) -> list[str]:
    """What the server's voice says of an answer in `mode`: its chunks through the
    voice's own chunker (chat/streaming/stream/voice.py), pieces with nothing to say left out."""
    chunker = SpeechChunker(mode)
    pieces = [piece for chunk in chunks for piece in chunker.feed(chunk)]
    return [piece for piece in [*pieces, *chunker.flush()] if speakable(piece)]


def page_run(run: Run, base_url: str, token: str, conversation: str, cache: Path) -> None:
    """The browser's voice mode: a WebSocket with `set_voice` on; each `audio` frame's WAV
    is fetched as it comes (ready to play once downloaded). The server's speech cache
    is emptied first, so every run synthesises afresh."""
    from websockets.sync.client import connect

    shutil.rmtree(cache, ignore_errors=True)
    mode = run.mode.removeprefix("page-")
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"{base_url.replace('http', 'ws', 1)}/ws/chat/{conversation}/?chunk=token"
    with connect(url, origin=base_url, additional_headers=bearer, open_timeout=30) as ws:  # type: ignore[arg-type]
        json.loads(ws.recv(timeout=30))  # the history
        ws.send(json.dumps({"type": "set_voice", "on": True, "mode": mode}))
        run.sent = time.time()
        ws.send(json.dumps({"type": "user_message", "content": run.prompt}))
        ended = False
        while not ended or len(run.wavs) < len(voice_pieces(run.chunks, mode)):
            frame = json.loads(ws.recv(timeout=60))
            if frame["type"] == "chunk":
                run.first_chunk = run.first_chunk or time.time()
                run.chunks.append(frame["text"])
            elif frame["type"] == "audio":
                request = urllib.request.Request(f"{base_url}{frame['url']}", headers=bearer)
                with urllib.request.urlopen(request, timeout=30) as response:
                    run.wavs.append(wav_facts(response.read()))
                run.last_audio = time.time()
                run.first_audio = run.first_audio or run.last_audio
            elif frame["type"] in ("end", "voice_notice", "error"):
                ended = True
                if frame["type"] != "end" or frame["status"] != "complete":
                    run.problems.append(f"{frame['type']}: {frame}")
                    return


def check_run(run: Run) -> None:
    """The run's correctness: the text whole, one valid WAV per spoken chunk, in time order."""
    expected = ANSWERS[run.lang]
    if "".join(run.chunks).strip() != expected.strip():
        run.problems.append(f"the chunks joined differ from the answer: {''.join(run.chunks)!r}")
    spoken = [run.chunks and "".join(run.chunks)] if run.mode == "whole" else run.chunks
    if run.mode.startswith("page-"):
        spoken = voice_pieces(run.chunks, run.mode.removeprefix("page-"))
    said = [c for c in spoken if c and speakable(c)]
    if len(run.wavs) != len(said):
        run.problems.append(f"{len(run.wavs)} WAVs for {len(said)} spoken chunks")
    bad = [w for w in run.wavs if not w["valid"]]
    if bad:
        run.problems.append(f"{len(bad)} invalid WAVs, first: {bad[0]}")
    figures = run.figures()
    if any(v is None for v in figures.values()):
        run.problems.append(f"missing figures: {figures}")
    elif figures["first_audio"] > figures["last_audio"]:  # type: ignore[operator]
        run.problems.append(f"first audio after the last: {figures}")


# --- Summary -----------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str, float, str], list[Run]] = {}
    for run in runs:
        cells.setdefault((run.engine, run.lang, run.pace, run.mode), []).append(run)
    rows = []
    for (engine, lang, pace, mode), group in cells.items():
        figures = [r.figures() for r in group]
        row: dict[str, Any] = {
            "engine": engine,
            "lang": lang,
            "pace": pace,
            "mode": mode,
        }
        for key in (
            "model_asked",
            "first_token",
            "first_chunk",
            "first_audio",
            "last_audio",
        ):
            row[key] = median([f[key] for f in figures])
        row["runs"] = len(group)
        row["chunks"] = median([len(r.chunks) for r in group])
        row["wavs"] = median([len(r.wavs) for r in group])
        every = [w for r in group for w in r.wavs]
        row["wav_check"] = {
            "count": len(every),
            "valid": sum(1 for w in every if w["valid"]),
            "rates": sorted({w["rate"] for w in every if w["valid"]}),
        }
        row["audio_seconds"] = median([sum(w.get("seconds", 0) for w in r.wavs) for r in group])
        row["per_run"] = figures
        row["problems"] = [p for r in group for p in r.problems]
        rows.append(row)
    rows.sort(key=lambda r: (r["engine"], r["lang"], r["pace"], MODES.index(r["mode"])))
    return rows


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (engine, language, pace): clause first audio after the first token, the
    whole/clause ratio, and whether the issue's two goals hold."""
    by = {(r["engine"], r["lang"], r["pace"], r["mode"]): r for r in rows}
    out = []
    for engine, lang, pace in sorted({(r["engine"], r["lang"], r["pace"]) for r in rows}):
        clause, whole = (
            by.get((engine, lang, pace, "clause")),
            by.get((engine, lang, pace, "whole")),
        )
        if not clause or clause["first_audio"] is None or clause["first_token"] is None:
            continue
        after = clause["first_audio"] - clause["first_token"]
        page = by.get((engine, lang, pace, "page-clause"))
        page_after = None
        if page and page["first_audio"] is not None and page["first_token"] is not None:
            page_after = round(page["first_audio"] - page["first_token"], 4)
        ratio = None
        if whole and whole["first_audio"] and clause["first_audio"]:
            ratio = whole["first_audio"] / clause["first_audio"]
        out.append(
            {
                "engine": engine,
                "lang": lang,
                "pace": pace,
                "clause_after_first_token": round(after, 4),
                "page_clause_after_first_token": page_after,
                "ratio_whole_to_clause": None if ratio is None else round(ratio, 2),
                "within_600ms": after <= GOAL_AFTER_FIRST_TOKEN,
                "at_least_3x": None if ratio is None else ratio >= GOAL_RATIO,
            }
        )
    return out


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def render(report: dict[str, Any]) -> str:
    m, w = report["machine"], report["workload"]
    lines = [
        BEGIN,
        "",
        f"Measured {m['date']} with `{report['command']}` on code {report['code']}: "
        f"{m['cores']} cores ({m['cpu']}), Python {m['python']}, {report['database']}, "
        f"{report['redis']}. {report['load_note']}",
        "",
        f"Model: first token after {w['first_token_ms']:g} ms, then "
        f"{', '.join(f'{p:g}' for p in w['paces'])} tokens/s; answers of "
        f"{w['tokens']['en']} tokens (English, {w['chars']['en']} characters) "
        f"and {w['tokens']['ja']} tokens (Japanese, {w['chars']['ja']} characters). "
        f"VOICEVOX stub: {w['voicevox_base_ms']:g} ms + {w['voicevox_per_char_ms']:g} ms per "
        f"character. Median of {w['runs']} runs per cell; ms from the send.",
        "",
        "| engine | lang | tokens/s | mode | model asked | first token | first chunk | "
        "first audio | last audio | chunks | WAVs |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        first_audio = (
            f"**{ms(r['first_audio'])}**" if r["mode"] == "clause" else ms(r["first_audio"])
        )
        lines.append(
            f"| {r['engine']} | {r['lang']} | {r['pace']:g} | {r['mode']} | {ms(r['model_asked'])} "
            f"| {ms(r['first_token'])} "
            f"| {ms(r['first_chunk'])} | {first_audio} | {ms(r['last_audio'])} "
            f"| {r['chunks']:g} | {r['wavs']:g} |"
        )
    lines += [
        "",
        "Goals (issue #23): clause mode's first audio within 600 ms of the first token, "
        "and at least 3× sooner than whole-answer synthesis.",
        "",
        "| engine | lang | tokens/s | clause: first audio − first token | whole ÷ clause "
        "(first audio) | ≤ 600 ms | ≥ 3× | page-clause: first audio − first token |",
        "|---|---|---:|---:|---:|---|---|---:|",
    ]
    for g in report["goals"]:
        ratio = "–" if g["ratio_whole_to_clause"] is None else f"{g['ratio_whole_to_clause']:.1f}×"
        after = ms(g["clause_after_first_token"])
        lines.append(
            f"| {g['engine']} | {g['lang']} | {g['pace']:g} | {after} ms "
            f"| {ratio} | {'yes' if g['within_600ms'] else 'NO'} "
            f"| {'–' if g['at_least_3x'] is None else 'yes' if g['at_least_3x'] else 'NO'} "
            f"| {ms(g['page_clause_after_first_token'])} ms |"
        )
    lines += ["", END]
    return "\n".join(lines)


# --- The run -----------------------------------------------------------------------------


def machine_load() -> str:
    """The load average and the busiest other processes: what else ran."""
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
        return f"load average {' '.join(load)}"
    return "load average unknown"


@dataclass
class Door:
    """A Daphne whose own speech engine is one of ENGINES (for the page modes)."""

    api: ApiClient
    base_url: str
    token: str
    cache: Path


def one_run(
    spec: Run,
    door: Door,
    agent: DbAgent,
    username: str,
    engine: Engine,
    model: ModelServer,
) -> Run:
    [conversation] = agent.conversations([username])
    spec.prompt = prompt_for(spec.lang)
    try:
        if spec.mode.startswith("page-"):
            page_run(spec, door.base_url, door.token, conversation, door.cache)
        else:
            speak_run(spec, door.api, conversation, engine)
    except Exception as exc:  # a failed run is reported, never hangs the bench
        spec.problems.append(f"{type(exc).__name__}: {exc}")
    record = model.requests({spec.prompt}).get(spec.prompt)
    if record and record.get("first"):
        spec.model_asked, spec.first_token = (
            float(record["arrival"]),
            float(record["first"]),
        )
    check_run(spec)
    return spec


def server_speech_env(name: str, engine: Engine, cache: Path) -> dict[str, str]:
    """The environment that makes a Daphne's own speech engine `engine`."""
    env = {"SPEECH_ENGINE": name, "SPEECH_CACHE_DIR": str(cache)}
    env["SPEECH_MAX_CHARS_PER_DAY"] = "0"  # no allowance: the bench says a lot
    if isinstance(engine, VoicevoxEngine):
        env.update(VOICEVOX_URL=engine.base_url, VOICEVOX_SPEAKER=engine.speaker)
    return env


def measure_pace(
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    pace: float,
    account: tuple[str, str],
    engines: dict[str, Engine],
    agent: DbAgent,
    profile: str | None,
) -> list[Run]:
    """Every (repetition, language, engine, mode) at one pace, through one Daphne per
    engine (the terminal client's runs use the first)."""
    model = start_model(workdir, pace, args.first_token_ms)
    doors: dict[str, Door] = {}
    servers = []
    try:
        for name in args.engines:
            cache = workdir / f"speech-cache-{name}-{pace:g}"
            server_env = {**env, "OPENAI_BASE_URL": model.base_url}
            server_env.update(server_speech_env(name, engines[name], cache))
            [server] = start_servers(
                1, ROOT, server_env, workdir, f"voice-{pace:g}-{name}", profile
            )
            profile = None  # only the first Daphne is profiled
            servers.append(server)
            base_url = f"http://127.0.0.1:{server.port}"
            api = ApiClient(base_url, account[1], notice=log)
            doors[name] = Door(api, base_url, account[1], cache)
        first = doors[args.engines[0]]
        for lang in args.langs:  # warm-up, untimed: the first answer per language
            warm = one_run(
                Run(lang, pace, "clause", "espeak"),
                first,
                agent,
                account[0],
                engines["espeak"],
                model,
            )
            if warm.problems:
                raise RuntimeError(f"warm-up failed: {warm.problems}")
        return measure_cells(args, pace, doors, first, account, engines, agent, model)
    finally:
        for door in doors.values():
            door.api.close()
        for server in servers:
            server.stop()
        CHILDREN.stop(model.process)


def measure_cells(
    args: argparse.Namespace,
    pace: float,
    doors: dict[str, Door],
    first: Door,
    account: tuple[str, str],
    engines: dict[str, Engine],
    agent: DbAgent,
    model: ModelServer,
) -> list[Run]:
    runs: list[Run] = []
    for rep in range(args.runs):
        modes = args.modes[rep % len(args.modes) :] + args.modes[: rep % len(args.modes)]
        for lang in args.langs:
            for name in args.engines:
                for mode in modes:
                    door = doors[name] if mode.startswith("page-") else first
                    run = one_run(
                        Run(lang, pace, mode, name), door, agent, account[0], engines[name], model
                    )
                    f = run.figures()
                    log(
                        f"{pace:g} tps {lang} {name:8} {mode:13} run {rep + 1}: first audio "
                        f"{ms(f['first_audio'])} ms, last {ms(f['last_audio'])} ms"
                        + (f"  !!! {run.problems}" if run.problems else "")
                    )
                    runs.append(run)
    return runs


def run(args: argparse.Namespace, workdir: Path) -> int:
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python bench/voice_bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    database = find_database()
    load_before = machine_load()
    with redis_url() as (redis, redis_note):
        env = base_server_env(redis, args.server_env)
        env.update(database.env_for(args.db_name, workdir))
        log(f"migrating {args.db_name} ({database.describe})")
        migrate(ROOT, env, workdir / "migrate.log")
        agent = DbAgent(ROOT, env, workdir / "agent.log")
        voicevox, port = start_voicevox(workdir, args.voicevox_base_ms, args.voicevox_per_char_ms)
        engines: dict[str, Engine] = {
            "espeak": EspeakEngine(),
            "voicevox": VoicevoxEngine(f"http://127.0.0.1:{port}", 1),
        }
        runs: list[Run] = []
        try:
            [user] = agent.setup(f"voice-{uuid.uuid4().hex[:6]}", 1)
            [token] = agent.tokens([user["username"]], name="voice_bench")
            for index, pace in enumerate(args.paces):
                profile = None
                if args.profile and index == 0:
                    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
                    target = out_dir / "voice_bench_profile.txt"  # collapsed stacks (flamegraph.pl)
                    profile = f"{spy} record --rate 200 --format raw -o {target}"
                account = (user["username"], token)
                runs += measure_pace(args, env, workdir, pace, account, engines, agent, profile)
        finally:
            CHILDREN.stop(voicevox)
            agent.close()
    rows = summarize(runs)
    report = {
        "command": command,
        "machine": machine(),
        "code": code_description(),
        "database": database.describe,
        "redis": redis_note,
        "load_note": args.note or f"Other load: {load_before} before, {machine_load()} after.",
        "workload": {
            "first_token_ms": args.first_token_ms,
            "paces": args.paces,
            "runs": args.runs,
            "modes": args.modes,
            "engines": args.engines,
            "tokens": {lang: len(answer_tokens(ANSWERS[lang], lang)) for lang in ANSWERS},
            "chars": {lang: len(ANSWERS[lang]) for lang in ANSWERS},
            "voicevox_base_ms": args.voicevox_base_ms,
            "voicevox_per_char_ms": args.voicevox_per_char_ms,
        },
        "rows": rows,
        "goals": goals(rows),
    }
    markdown = render(report)
    (out_dir / "voice_bench.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if args.markdown:
        target = Path(args.markdown)
        if not target.exists():
            target.write_text(f"# Voice: time to first audio\n\n{BEGIN}\n{END}\n")
        write_markdown(target, markdown)
    print()
    print(markdown)
    print()
    log(
        f"wrote {out_dir / 'voice_bench.json'}" + (f" and {args.markdown}" if args.markdown else "")
    )
    problems = [
        f"{r['engine']} {r['lang']} {r['pace']:g} {r['mode']}: {p}"
        for r in rows
        for p in r["problems"]
    ]
    for problem in problems:
        log(f"!!! {problem}")
    return 1 if problems or not rows else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per cell (median reported)")
    parser.add_argument("--langs", default="en,ja")
    parser.add_argument("--paces", default="30,60", help="tokens per second, comma separated")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--voicevox-base-ms", type=float, default=40.0)
    parser.add_argument("--voicevox-per-char-ms", type=float, default=8.0)
    parser.add_argument("--db-name", default="chat_voicebench")
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "voice.md"), help="'' for none")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", action="store_true", help="the first Daphne under py-spy")
    args = parser.parse_args(argv)
    args.langs = [x for x in args.langs.split(",") if x]
    args.paces = [float(x) for x in args.paces.split(",") if x]
    args.modes = [x for x in args.modes.split(",") if x]
    args.engines = [x for x in args.engines.split(",") if x]
    for lang in args.langs:
        if lang not in ANSWERS:
            parser.error(f"unknown language {lang!r} (one of {', '.join(ANSWERS)})")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    for engine in args.engines:
        if engine not in ENGINES:
            parser.error(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-model"]:
        serve_model(argv[1:])
        return 0
    args = parse_args(argv)
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        os.environ.pop(key)  # the client talks to loopback only

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="chat-voice-bench-"))
    log(f"logs in {workdir}")
    try:
        return run(args, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        CHILDREN.kill_all()


if __name__ == "__main__":
    sys.exit(main())
