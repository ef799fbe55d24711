"""The OpenAI chat completions format, pure: requests parsed and checked, answers built.

Only what the gateway (views.py) serves: text messages in (and images of the last
user message, as `image_url` parts holding data URLs), one choice out, streamed as
`chat.completion.chunk` objects or whole as a `chat.completion`. What it does not
serve (tools, several choices, images by a remote URL) is refused by name (`param`),
as OpenAI refuses what it does not know.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

from chat.errors import ErrorCode, Refusal

ROLES = {"system", "developer", "user", "assistant"}
MAX_MESSAGES = 500
UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "audio", "prediction")
MAX_STOPS = 4  # OpenAI's limit
MAX_STOP_CHARS = 200
MAX_TOKENS_ASKED = 2**31 - 1
DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,(?P<data>.*)", re.S)
REMOTE_IMAGE = (
    "Images must be sent as data: URLs (base64): this server does not fetch images "
    "from other addresses."
)


class BadRequest(Refusal):
    """A request body the gateway refuses, with OpenAI's `param` (413: too long)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        code = ErrorCode.TOO_LONG if status == 413 else ErrorCode.BAD_REQUEST
        super().__init__(code, message, param=param)

    @property
    def param(self) -> str | None:
        param = self.extra.get("param")
        return param if isinstance(param, str) else None


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    instructions: str  # the system (or developer) messages, joined
    history: list[tuple[str, str]]  # (role, content) before the question, oldest first
    question: str  # the last message, the user's
    stream: bool
    include_usage: bool
    temperature: float | None
    max_tokens: int | None = None  # the smaller of max_tokens and max_completion_tokens
    stop: tuple[str, ...] = ()
    images: tuple[bytes, ...] = ()  # the question's images (those of earlier turns: dropped)


def parse_request(data: Any, *, max_chars: int, max_instructions: int) -> CompletionRequest:
    """A chat completions request body, checked; raises BadRequest."""
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", param="model")
    for name in UNSUPPORTED:
        if data.get(name) is not None:
            raise BadRequest(f"This server does not support {name!r}.", param=name)
    n = data.get("n")  # null is the default, as OpenAI has it: one choice
    if n is not None and (isinstance(n, bool) or n != 1):
        raise BadRequest("This server answers with one choice: n must be 1.", param="n")
    format_ = data.get("response_format")
    if format_ is not None and format_ != {"type": "text"}:
        raise BadRequest("This server answers in text only.", param="response_format")
    stream = _flag(data, "stream")
    options = data.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise BadRequest(
            "stream_options is only allowed with stream: true.", param="stream_options"
        )
    include_usage = _flag(options or {}, "include_usage", "stream_options.include_usage")
    instructions, history, images = _messages(data.get("messages"), max_chars)
    if len(instructions) > max_instructions:
        raise BadRequest(
            f"The system messages are too long ({len(instructions)} of {max_instructions} "
            "characters).",
            param="messages",
            status=413,
        )
    if not history or history[-1][0] != "user":
        raise BadRequest("The last message must be the user's.", param="messages")
    *earlier, (_, question) = history
    return CompletionRequest(
        model=model,
        instructions=instructions,
        history=earlier,
        question=question,
        stream=stream,
        include_usage=include_usage,
        temperature=_temperature(data.get("temperature")),
        max_tokens=_max_tokens(data),
        stop=_stop(data.get("stop")),
        images=images,
    )


def _flag(data: dict[str, Any], name: str, param: str | None = None) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{param or name} must be true or false.", param=param or name)
    return value


def _temperature(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest("temperature must be a number from 0 to 2.", param="temperature")
    if not 0 <= value <= 2:
        raise BadRequest("temperature must be a number from 0 to 2.", param="temperature")
    return float(value)


def _max_tokens(data: dict[str, Any]) -> int | None:
    """The client's cap on the answer: `max_completion_tokens` or the older `max_tokens`
    (both given: the smaller); None when it sets none."""
    asked: list[int] = []
    for name in ("max_tokens", "max_completion_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"{name} must be a positive integer.", param=name)
        asked.append(min(value, MAX_TOKENS_ASKED))
    return min(asked, default=None)


def _stop(value: Any) -> tuple[str, ...]:
    """`stop`: a string, or an array of up to 4 strings; empty ones are ignored."""
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > MAX_STOPS:
        raise BadRequest(
            f"stop must be a string or an array of at most {MAX_STOPS} strings.", param="stop"
        )
    for stop in stops:
        if not isinstance(stop, str) or len(stop) > MAX_STOP_CHARS:
            raise BadRequest(
                f"Each stop sequence must be a string of at most {MAX_STOP_CHARS} characters.",
                param="stop",
            )
    return tuple(dict.fromkeys(stop for stop in stops if stop))


def _messages(
    messages: Any, max_chars: int
) -> tuple[str, list[tuple[str, str]], tuple[bytes, ...]]:
    """(instructions, the conversation, the last message's images): system and
    developer messages are the instructions; the rest alternate as they come."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty array.", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise BadRequest(f"At most {MAX_MESSAGES} messages.", param="messages")
    instructions: list[str] = []
    history: list[tuple[str, str]] = []
    images: list[bytes] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest("Each message must be an object.", param=param)
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(
                f"Unsupported role {str(role)[:20]!r}: use system, user or assistant.",
                param=f"{param}.role",
            )
        content, images = _content(message.get("content"), f"{param}.content")
        if "\x00" in content:  # PostgreSQL's text cannot hold it
            raise BadRequest(
                "Text may not contain the NUL character (U+0000).", param=f"{param}.content"
            )
        if len(content) > max_chars:
            raise BadRequest(
                f"The message is too long ({len(content)} of {max_chars} characters).",
                param=f"{param}.content",
                status=413,
            )
        if role in ("system", "developer"):
            instructions.append(content)
        elif not content.strip():
            raise BadRequest("A message is empty.", param=f"{param}.content")
        else:
            history.append((role, content))
    if images and role != "user":
        raise BadRequest("Only a user message may carry images.", param="messages")
    return "\n\n".join(instructions), history, tuple(images)


def _content(content: Any, param: str) -> tuple[str, list[bytes]]:
    """A message's text and images: a string, or an array of text and `image_url`
    parts (an image by a data URL only)."""
    if isinstance(content, str):
        return content, []
    if isinstance(content, list) and content:
        parts, images = [], []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "image_url":
                images.append(_image(part.get("image_url"), param))
                continue
            if kind != "text":
                raise BadRequest(
                    "Only text and image_url content parts are supported.", param=param
                )
            if not isinstance(part.get("text"), str):
                raise BadRequest("A text part needs a text string.", param=param)
            parts.append(part["text"])
        return "".join(parts), images
    raise BadRequest("content must be a string or an array of content parts.", param=param)


def _image(value: Any, param: str) -> bytes:
    """An image_url part's image: {"url": "data:<type>;base64,..."} (or the URL alone)."""
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise BadRequest("An image_url part needs a url.", param=param)
    found = DATA_URL.fullmatch(url.strip())
    if found is None:
        raise BadRequest(REMOTE_IMAGE, param=param)
    try:
        return base64.b64decode(found["data"], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("The image's data URL is not valid base64.", param=param) from None


# --- Answers ---------------------------------------------------------------------------


def finish_reason(end: dict[str, Any]) -> str:
    """OpenAI's finish_reason of an answer that ended (an `end` frame)."""
    return "length" if end.get("finish_reason") == "length" else "stop"


def usage(saved: dict[str, Any] | None) -> dict[str, int] | None:
    """Our usage (`input_tokens`…) in OpenAI's names; None when the model reported none."""
    if not saved:
        return None
    return {
        "prompt_tokens": saved["input_tokens"],
        "completion_tokens": saved["output_tokens"],
        "total_tokens": saved["total_tokens"],
    }


def completion_chunk(
    ident: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _chunk(ident, created, model, choices=[choice])


def usage_chunk(
    ident: str, created: int, model: str, tokens: dict[str, int] | None
) -> dict[str, Any]:
    return _chunk(ident, created, model, choices=[], usage=tokens)


def _chunk(ident: str, created: int, model: str, **rest: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` (stream_options.include_usage adds a last one)."""
    head = {"id": ident, "object": "chat.completion.chunk", "created": created}
    return {**head, "model": model, "system_fingerprint": None, **rest}


def completion(
    ident: str, created: int, model: str, text: str, finish: str, tokens: dict[str, int] | None
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": tokens,
    }


def model_list(keys: list[str], owner: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": key, "object": "model", "created": 0, "owned_by": owner} for key in keys],
    }
