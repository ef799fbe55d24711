"""Telling an unreachable model server from a slow one (chat/provider/reach.py)."""

from __future__ import annotations

import itertools
import socket
import ssl

import httpx2
import openai
import pytest

from chat.errors import ErrorCode
from chat.provider.llm import describe_failure
from chat.provider.reach import ModelUnreachable, connect_failure, server_name, unreachable


def raised_from(*causes: BaseException) -> BaseException:
    """The first of `causes`, raised from the second, raised from the third..."""
    for outer, inner in itertools.pairwise(causes):
        outer.__cause__ = inner
    return causes[0]


REQUEST = httpx2.Request("POST", "https://user:pass@model.example:8443/v1/chat/completions")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:9/v1", "127.0.0.1:9"),
        ("https://api.openai.com/v1", "api.openai.com"),
        ("http://[::1]:11434/v1", "[::1]:11434"),
        ("https://user:secret@model.example:8443/v1", "model.example:8443"),
    ],
)
def test_server_name_is_host_and_port_without_credentials(url: str, name: str) -> None:
    assert server_name(httpx2.URL(url)) == name


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (
            raised_from(httpx2.ConnectTimeout("x"), ConnectionRefusedError(111, "refused")),
            "refused",
        ),
        (raised_from(httpx2.ConnectTimeout("x"), socket.gaierror(-2, "unknown")), "dns"),
        (raised_from(httpx2.ConnectError("x"), ssl.SSLError(1, "WRONG_VERSION")), "tls"),
        (raised_from(httpx2.ConnectError("x"), ssl.SSLCertVerificationError(1, "self")), "tls"),
        (raised_from(httpx2.ConnectTimeout("x"), TimeoutError()), None),
        (raised_from(httpx2.ReadError("x"), ConnectionResetError(104, "reset")), None),
    ],
    ids=["refused", "dns", "tls", "certificate", "timeout", "reset"],
)
def test_connect_failure_finds_the_cause_in_the_chain(exc: BaseException, cause: str) -> None:
    found = connect_failure(exc)
    assert (found and found[0]) == cause


def test_a_failure_wrapped_by_langchain_is_unreachable_and_named_by_its_host() -> None:
    """LangChain raises its own connection error from openai's: the host is found
    behind it, and its sentence is what the answer says."""
    inner = ModelUnreachable(request=REQUEST, cause="dns", detail="[Errno -2] not known")
    wrapped = raised_from(openai.APIConnectionError(request=REQUEST), inner)
    assert unreachable(wrapped) is inner
    code, sentence = describe_failure(wrapped)
    assert code == ErrorCode.MODEL_UNREACHABLE
    assert sentence == "The model server at model.example:8443 could not be reached: " + (
        "its name does not resolve."
    )
    assert "pass" not in sentence and "pass" not in inner.log_line()


def test_a_refusal_seen_by_another_transport_is_unreachable_too() -> None:
    """A client of openai's own (an LLM_FACTORY model): its APIConnectionError, raised
    from a refused connection, names the request's host."""
    exc = raised_from(
        openai.APIConnectionError(request=REQUEST),
        httpx2.ConnectError("x"),
        ConnectionRefusedError(111, "Connection refused"),
    )
    found = unreachable(exc)
    assert found is not None and (found.host, found.cause) == ("model.example:8443", "refused")
    assert describe_failure(exc)[0] == ErrorCode.MODEL_UNREACHABLE
