"""LLM_MODELS: the models users choose from, parsed and refused with a clear reason."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.provider.llm import DEMO, UnknownModel, model_choices, parse_models, resolve_model
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


def test_without_a_model_server_the_demo_is_the_only_model(settings) -> None:
    settings.LLM_FACTORY = settings.LLM_MODELS = settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.LLM_OFFER_DEMO = False
    assert model_choices() == [{"key": DEMO.key, "label": DEMO.label}]


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
