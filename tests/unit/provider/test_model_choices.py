"""LLM_MODELS: the models users choose from, parsed and refused with a clear reason."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.provider.llm import (
    DEMO,
    DEMO_JA,
    UnknownModel,
    model_choices,
    parse_models,
    resolve_model,
)
from chat.streaming.answer.titles import clean_title

TWO = [
    {"name": "gpt-4o-mini", "base_url": "https://api.example/v1", "api_key_env": "MY_KEY"},
    {"name": "llama3.1", "id": "local", "label": "Llama (local)", "temperature": 0.2},
]


def test_models_are_parsed_with_keys_from_the_environment() -> None:
    first, second = parse_models(json.dumps(TWO), {"MY_KEY": "sk-1"})
    assert (first.key, first.model, first.api_key, first.label) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        "sk-1",
        "gpt-4o-mini",
    )
    assert (second.key, second.model, second.label, second.temperature) == (
        "local",
        "llama3.1",
        "Llama (local)",
        0.2,
    )


def test_only_models_said_to_read_images_take_them() -> None:
    """LLM_MODELS' "images" (default false: an entry written before it keeps working);
    the offline demo models take images."""
    plain, vision = parse_models('[{"name": "a"}, {"name": "b", "images": true}]', {})
    assert (plain.images, vision.images) == (False, True)
    assert DEMO.images and DEMO_JA.images


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"base_url": "x"}]', 'needs a "name"'),
        ('[{"name": "a", "colour": "red"}]', "unknown fields: colour"),
        ('[{"name": "a", "api_key_env": "MISSING"}]', "$MISSING is not set"),
        ('[{"name": "a", "temperature": "hot"}]', "temperature must be a number"),
        ('[{"name": "a"}, {"name": "a"}]', "must be unique"),
        ('[{"name": "a", "images": "yes"}]', "images must be true or false"),
    ],
)
def test_a_bad_configuration_says_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=reason.replace("$", r"\$")):
        parse_models(raw, {})


def test_the_first_model_is_the_default_and_the_demo_stays_on_offer(settings, monkeypatch) -> None:
    settings.LLM_FACTORY = ""
    settings.LLM_MODELS = json.dumps(TWO)
    settings.LLM_OFFER_DEMO = True
    monkeypatch.setenv("MY_KEY", "sk-1")
    assert [c["key"] for c in model_choices()] == ["gpt-4o-mini", "local", DEMO.key]
    assert resolve_model("").key == resolve_model(None).key == "gpt-4o-mini"
    assert resolve_model("local").model == "llama3.1"
    with pytest.raises(UnknownModel):
        resolve_model("nope")
    settings.LLM_OFFER_DEMO = False
    assert [c["key"] for c in model_choices()] == ["gpt-4o-mini", "local"]


@pytest.mark.parametrize("offer_demo", [True, False])
def test_without_a_model_server_both_demo_models_are_offered(settings, offer_demo) -> None:
    """A newcomer without keys sees two models in the picker, so switching shows."""
    settings.LLM_FACTORY = settings.LLM_MODELS = settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.LLM_OFFER_DEMO = offer_demo
    assert model_choices() == [
        {"key": DEMO.key, "label": DEMO.label, "images": True},
        {"key": DEMO_JA.key, "label": DEMO_JA.label, "images": True},
    ]
    assert resolve_model(None) == DEMO and resolve_model("demo-ja").model == "ja"


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ('Title: "A Trip to Kyoto".', "A Trip to Kyoto"),
        ("**京都旅行の計画**\nmore text", "京都旅行の計画"),
        ("  \n", ""),
    ],
)
def test_a_model_title_is_cleaned(reply: str, title: str) -> None:
    assert clean_title(reply) == title


README = Path(__file__).resolve().parents[3] / "README.md"


def readme_model_lines() -> list[str]:
    return [line for line in README.read_text().splitlines() if line.startswith("LLM_MODELS='")]


@pytest.mark.parametrize("line", readme_model_lines())
def test_the_readmes_model_one_liners_are_shell_and_valid_configurations(line: str) -> None:
    """README: OpenAI, Ollama and a llama.cpp server through LLM_MODELS, each a
    command that runs as written."""
    assignment, *command = shlex.split(line)
    assert command == ["make", "run"] and assignment.startswith("LLM_MODELS=")
    (spec,) = parse_models(assignment.removeprefix("LLM_MODELS="), {"OPENAI_API_KEY": "sk-1"})
    assert spec.base_url.startswith(("https://", "http://127.0.0.1:")) and spec.model


def test_the_readme_shows_openai_ollama_and_llama_cpp() -> None:
    raw = [shlex.split(line)[0].removeprefix("LLM_MODELS=") for line in readme_model_lines()]
    urls = [parse_models(r, {"OPENAI_API_KEY": "sk-1"})[0].base_url for r in raw]
    assert urls == [
        "https://api.openai.com/v1",
        "http://127.0.0.1:11434/v1",  # Ollama's OpenAI-compatible API
        "http://127.0.0.1:8080/v1",  # llama-server's default port
    ]
