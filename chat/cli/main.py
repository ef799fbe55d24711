"""`python -m chat.cli`: list or create conversations, or chat: one prompt (an argument
or piped standard input) answered and done, or a prompt per line in a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from chat.cli.api import ApiClient, CliError
from chat.cli.speaker import Speaker, WavFiles, aplay_sink
from chat.speech.base import Engine
from chat.streaming.delivery.chunking import SpeechChunker

COMMANDS = ("list", "new")
MODES = ("token", "line", "sentence", "clause")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m chat.cli",
        description="Chat with a running server: `list`, `new`, or a prompt (an argument, "
        "piped standard input, or one per line in a terminal).",
    )
    default_url = os.environ.get("CHAT_URL") or "http://127.0.0.1:8000"
    cli.add_argument("--url", default=default_url, help="the server (default: $CHAT_URL)")
    cli.add_argument("--token", help="a personal API token (default: $CHAT_TOKEN)")
    cli.add_argument("--conversation", help="the conversation's id (default: a new one)")
    cli.add_argument("--chunk", choices=MODES, help="token (default) or sentence (--speak)")
    cli.add_argument("--title", default="", help="with `new`: the conversation's title")
    speech = cli.add_argument_group("speech")
    speech.add_argument("--speak", action="store_true", help="speak each chunk (espeak-ng)")
    speech.add_argument("--voicevox", metavar="URL", help="a VOICEVOX engine instead")
    speech.add_argument("--speaker", default="1", help="the VOICEVOX speaker id")
    speech.add_argument("--speech-url", metavar="URL", help="an OpenAI-compatible /v1 instead")
    speech.add_argument("--speech-key", default=os.environ.get("SPEECH_API_KEY", ""))
    speech.add_argument("--speech-model", default="tts-1")
    speech.add_argument("--voice", help="the engine's voice (espeak-ng: by language)")
    speech.add_argument("--out", type=Path, metavar="DIR", help="write 0001.wav… instead of aplay")
    cli.add_argument("prompt", nargs="*", help="`list`, `new`, or the message to send")
    return cli


def engine_of(args: argparse.Namespace) -> Engine:
    """The engine asked for, imported only then (the openai client takes seconds)."""
    if args.voicevox:
        from chat.speech.voicevox import VoicevoxEngine

        return VoicevoxEngine(args.voicevox, args.speaker)
    if args.speech_url:
        from chat.speech.openai_speech import OpenAISpeechEngine

        voice = args.voice or "alloy"
        return OpenAISpeechEngine(args.speech_url, args.speech_key, args.speech_model, voice)
    from chat.speech.espeak import EspeakEngine

    return EspeakEngine(voice=args.voice or "")


def speaker_of(args: argparse.Namespace) -> Speaker | None:
    if not args.speak:
        return None
    sink = WavFiles(args.out) if args.out else aplay_sink()
    if sink is None:
        raise CliError("--speak needs aplay (Debian: alsa-utils) or --out DIR")
    return Speaker(engine_of(args), sink, notice)


def notice(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pieces(
    api: ApiClient, conversation: str, prompt: str, chunk: str, speaking: bool
) -> Iterator[str]:
    """The answer's chunks as they stream. Spoken in clause mode, the server's tokens
    are cut by the voice's own chunker instead (SpeechChunker, as the browser's voice
    mode does): the first piece may end at a few words, so the first sound does not
    wait for a whole clause (docs/voice.md)."""
    if not (speaking and chunk == "clause"):
        yield from api.ask(conversation, prompt, chunk)
        return
    chunker = SpeechChunker(chunk)
    for token in api.ask(conversation, prompt, "token"):
        yield from chunker.feed(token)
    yield from chunker.flush()


def answer(
    api: ApiClient, conversation: str, prompt: str, chunk: str, voice: Speaker | None
) -> None:
    """Print (and speak) one answer as it streams."""
    last = ""
    for text in pieces(api, conversation, prompt, chunk, voice is not None):
        sys.stdout.write(text)
        sys.stdout.flush()
        if voice is not None:
            voice.say(text)
        last = text
    if not last.endswith("\n"):
        sys.stdout.write("\n")
        sys.stdout.flush()


def chat(api: ApiClient, args: argparse.Namespace, voice: Speaker | None) -> None:
    chunk = args.chunk or ("sentence" if args.speak else "token")
    conversation = args.conversation or api.new_conversation(args.title)["id"]
    if not args.conversation:
        notice(f"conversation {conversation}")
    if args.prompt:
        answer(api, conversation, " ".join(args.prompt), chunk, voice)
    elif not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise CliError("nothing to send: standard input was empty")
        answer(api, conversation, prompt, chunk, voice)
    else:
        repl(api, conversation, chunk, voice)


def repl(api: ApiClient, conversation: str, chunk: str, voice: Speaker | None) -> None:
    """A prompt per line until Ctrl-D; a refused or failed answer is told and the
    next prompt read."""
    while True:
        try:
            prompt = input("> ")
        except EOFError:
            print()
            return
        if not prompt.strip():
            continue
        try:
            answer(api, conversation, prompt, chunk, voice)
        except CliError as exc:
            if exc.status == 2:  # the server is gone
                raise
            notice(f"error: {exc}")


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("CHAT_TOKEN", "")
    if not token:
        raise CliError("no API token: pass --token or set CHAT_TOKEN (see /settings/tokens/)")
    api = ApiClient(args.url, token, notice=notice)
    try:
        if args.prompt in (["list"], ["new"]):
            if args.prompt == ["list"]:
                for item in api.conversations():
                    print(f"{item['id']}\t{item['updated']}\t{item['title']}")
            else:
                print(api.new_conversation(args.title)["id"])
            return 0
        voice = speaker_of(args)
        try:
            chat(api, args, voice)
        finally:
            if voice is not None:
                voice.close()
        return 3 if voice is not None and voice.failed else 0
    finally:
        api.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except CliError as exc:
        notice(f"error: {exc}")
        return exc.status
    except KeyboardInterrupt:
        notice("interrupted")
        return 130
