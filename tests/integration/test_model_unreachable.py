"""A model server that cannot be reached (a refused connection, a name that does not
resolve, a failed TLS handshake), through the real ChatOpenAI client and openai's
aiohttp transport: its own code and a sentence naming the host, at once (no retries),
one log line with the cause."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.openai_stub import OpenAIStub

from .conftest import make_user, open_chat, receive_until, saved
from .sse import Stream, bearer_client, make_token, openai_error_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("redis_layer"),
]

KEY = "sk-reach-test-secret-key"
GENERATION = "chat.streaming.answer.generation"


@pytest.fixture
def closed_port() -> Iterator[str]:
    """A loopback port bound but not listening: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def unresolvable() -> str:
    """A name under .invalid, which never resolves (RFC 6761), without the network."""
    return "model-server.invalid:8080"


@pytest.fixture
def plain_http() -> Iterator[str]:
    """The loopback model server, which speaks plain HTTP: TLS to it fails."""
    with OpenAIStub() as stub:
        yield stub.base_url.removeprefix("http://").removesuffix("/v1")


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[str]:
    """A TLS server on loopback whose certificate no one signed: verification fails."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *(
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    server.daemon_threads = True
    # The handshake runs in accept(): a client that rejects the certificate ends it there.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def point_at(settings: Any, base_url: str) -> None:
    """The default model: ChatOpenAI at `base_url`, with openai's retries left on."""
    models = [{"name": "reach-model", "base_url": base_url, "api_key": KEY}]
    settings.LLM_MODELS = json.dumps(models)
    settings.LLM_MAX_RETRIES = 2


async def ask(settings: Any, base_url: str) -> tuple[dict[str, Any], Any]:
    """One question over a socket to the model at `base_url`: its error frame, the
    saved answer."""
    point_at(settings, base_url)
    _user, _conversation, ws = await open_chat("sentence")
    await ws.send_to(text_data=json.dumps({"type": "user_message", "content": "Hello?"}))
    frames = await receive_until(ws, "end")
    await ws.disconnect()
    error = next(f for f in frames if f["type"] == "error")
    assert frames[-1]["status"] == "error"
    return error, await saved(frames[1]["message_id"])


def assert_one_line(caplog: pytest.LogCaptureFixture, host: str, cause: str) -> None:
    """One warning, with the host and the cause and no traceback; no retry; no key."""
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    line = warnings[0].getMessage()
    assert warnings[0].name == GENERATION and warnings[0].exc_info is None
    assert f"model server {host} unreachable ({cause})" in line and "\n" not in line
    assert not any("Retrying request" in r.getMessage() for r in caplog.records)
    assert not any(KEY in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("server", "cause", "reason"),
    [
        ("closed_port", "refused", "it refused the connection"),
        ("unresolvable", "dns", "its name does not resolve"),
        ("plain_http", "tls", "the secure (TLS) connection failed"),
        ("self_signed", "tls", "the secure (TLS) connection failed"),
    ],
)
async def test_an_unreachable_model_server_is_named_in_its_own_error(
    settings, caplog, request, server: str, cause: str, reason: str
) -> None:
    """Refused, unresolvable, TLS that fails (plain HTTP, or a certificate no one
    signed): `model_unreachable`, a sentence naming the host and never the key, the
    code saved on the answer, one log line with the cause and no traceback."""
    host = request.getfixturevalue(server)
    scheme = "https" if cause == "tls" else "http"
    caplog.set_level(logging.INFO)
    error, answer = await ask(settings, f"{scheme}://{host}/v1")
    message = f"The model server at {host} could not be reached: {reason}."
    assert error["code"] == "model_unreachable" and error["message"] == message
    assert (answer.status, answer.error_code, answer.error) == ("error", error["code"], message)
    assert_one_line(caplog, host, cause)


async def test_the_traceback_of_an_unreachable_server_is_logged_at_debug(
    settings, caplog, closed_port: str
) -> None:
    """With the answer's logger at DEBUG, its one warning carries the traceback."""
    caplog.set_level(logging.DEBUG, logger=GENERATION)
    error, _answer = await ask(settings, f"http://{closed_port}/v1")
    assert error["code"] == "model_unreachable"
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.exc_info is not None
    assert isinstance(warning.exc_info[1], Exception)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_the_openai_door_answers_model_unreachable(
    settings, closed_port: str, stream: bool
) -> None:
    """/v1/chat/completions: OpenAI's error object with code model_unreachable, as a
    502 (whole) or as the stream's last event."""
    point_at(settings, f"http://{closed_port}/v1")
    _token, raw = await make_token(await make_user())
    body = {"model": "reach-model", "messages": [{"role": "user", "content": "Hi"}]}
    response = await bearer_client(raw).post(
        "/v1/chat/completions",
        data=json.dumps({**body, "stream": stream}),
        content_type="application/json",
    )
    if stream:
        events = await Stream(response).rest()
        error = json.loads(events[-1].data)["error"]
    else:
        assert response.status_code == 502
        error = openai_error_of(response)
    assert (error["type"], error["code"]) == ("server_error", "model_unreachable")
    assert closed_port in error["message"] and KEY not in error["message"]
