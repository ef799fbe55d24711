"""The offline demo model shows what the product does (issue #22, item 1): a regenerate
differs, instructions change the language, length and tone, temperature the wording,
and a continue goes on cleanly; always the same reply for the same request."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from chat.provider.demo import DemoChatModel, _joint, demo_reply
from chat.provider.demo_words import Style, style_of
from chat.provider.prompts import CONTINUE_PROMPT

SYSTEM = "You are a helpful assistant."
PROMPTS = ["How does streaming work?", "Hi", "日本語で説明して", "Tell me a story about a cat"]


def ask(prompt: str, instructions: str = "") -> list[BaseMessage]:
    system = f"{SYSTEM}\n\n{instructions}" if instructions else SYSTEM
    return [SystemMessage(system), HumanMessage(prompt)]


def continuing(asked: list[BaseMessage], shown: str) -> list[BaseMessage]:
    """What a continue sends: the path, the answer's end, then the continue prompt."""
    return [*asked, AIMessage(shown), HumanMessage(CONTINUE_PROMPT)]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_a_regenerated_answer_differs_and_each_try_is_repeatable(prompt: str) -> None:
    """Today a regenerate gave the very same words: it looked as if nothing happened."""
    tries = [demo_reply(ask(prompt), attempt=n) for n in range(4)]
    assert len(set(tries)) == 4
    assert tries == [demo_reply(ask(prompt), attempt=n) for n in range(4)]
    assert "try 2" in tries[1] and "try" not in tries[0]


@pytest.mark.parametrize(
    ("instructions", "style"),
    [
        ("", Style()),
        ("Answer in Japanese.", Style(language="ja")),
        ("日本語で答えてください。", Style(language="ja")),
        ("Always answer in French, and be brief", Style(language="fr", length="short")),
        ("Answer in English.", Style(language="en")),
        ("Keep it SHORT.", Style(length="short")),
        ("Give detailed answers.", Style(length="long")),
        ("Be formal.", Style(tone="formal")),
        ("Talk like a pirate, in English.", Style(language="en", tone="pirate")),
        ("Think step by step.", Style()),  # not a recognised instruction
    ],
)
def test_instruction_keywords_set_the_style(instructions: str, style: Style) -> None:
    assert style_of(f"{SYSTEM}\n\n{instructions}") == style


@pytest.mark.parametrize(
    ("instructions", "starts", "lines"),
    [
        ("", 'You said: "Hi".', 4),
        ("Answer in Japanese.", "「Hi」とのことですね。", 4),
        ("Answer in French.", "Vous avez dit : « Hi ».", 4),
        ("Be brief.", 'You said: "Hi".', 2),
        ("Be detailed.", 'You said: "Hi".', 6),
        ("Be formal.", 'Certainly. You said: "Hi".', 5),
        ("Talk like a pirate.", 'Arr! Ye said: "Hi".', 4),
    ],
)
def test_instructions_visibly_change_the_answer(instructions: str, starts: str, lines: int) -> None:
    reply = demo_reply(ask("Hi", instructions))
    assert reply.startswith(starts) and len(reply.splitlines()) == lines
    if instructions:
        assert reply != demo_reply(ask("Hi"))


def test_the_japanese_demo_answers_in_japanese_unless_told_otherwise() -> None:
    assert demo_reply(ask("Hi"), language="ja").startswith("「Hi」とのことですね。")
    english = demo_reply(ask("Hi", "Answer in English."), language="ja")
    assert english.startswith('You said: "Hi".') and "。" not in english


@pytest.mark.parametrize("prompt", PROMPTS)
def test_temperature_changes_the_wording_and_zero_is_the_plain_text(prompt: str) -> None:
    plain = demo_reply(ask(prompt))
    assert demo_reply(ask(prompt), temperature=0) == plain
    warm = {t: demo_reply(ask(prompt), temperature=t) for t in (0.3, 1.0, 2.0)}
    assert all(reply != plain for reply in warm.values())
    assert warm[2.0] != warm[0.3]
    assert warm == {t: demo_reply(ask(prompt), temperature=t) for t in warm}
    # Same sentences, other words: the line count and the reply code stay.
    assert [len(r.splitlines()) for r in warm.values()] == [len(plain.splitlines())] * 3


def test_temperature_never_rewords_what_the_user_said() -> None:
    reply = demo_reply(ask("I said the conversation was short"), temperature=2.0)
    assert '"I said the conversation was short"' in reply


@pytest.mark.parametrize("temperature", [None, 1.0])
@pytest.mark.parametrize("instructions", ["", "Answer in Japanese.", "Be formal."])
def test_a_continue_goes_on_exactly_where_a_stopped_answer_stopped(
    instructions: str, temperature: float | None
) -> None:
    """Today a continue answered the hidden prompt ('You said: "Continue your last
    answer…"') and glued it on without a space."""
    asked = ask("How does streaming work?", instructions)
    whole = demo_reply(asked, temperature=temperature)
    for cut in (1, 7, 30, len(whole) // 2, len(whole) - 1):
        # A continued answer is a sibling of the one it continues: a later try.
        rest = demo_reply(continuing(asked, whole[:cut]), attempt=1, temperature=temperature)
        assert whole[:cut] + rest == whole
        # Continued again: the third try still finds where the text came from.
        more = demo_reply(continuing(asked, whole[: cut + 1]), attempt=2, temperature=temperature)
        assert whole[: cut + 1] + more == whole or cut + 1 == len(whole)


@pytest.mark.parametrize(
    ("shown", "joint"),
    [
        ("An answer that ended.", "\n\n"),
        ("An answer cut mid", " "),
        ("A line\n", ""),
        ("途中で止まった", ""),
        ("終わりました。", ""),
    ],
)
def test_a_continue_of_other_text_starts_cleanly_and_never_echoes_the_prompt(
    shown: str, joint: str
) -> None:
    rest = demo_reply(continuing(ask("Hi"), shown), attempt=1)
    assert _joint(shown) == joint and rest.startswith(joint)
    assert rest[len(joint) :][:1].strip()  # text right after the joint, no double space
    assert "Continue your last answer" not in rest and "You said" not in rest


def test_a_continue_of_a_whole_answer_adds_a_paragraph() -> None:
    asked = ask("Hi")
    whole = demo_reply(asked)
    rest = demo_reply(continuing(asked, whole), attempt=1)
    assert rest.startswith("\n\nTo go on from there: ")


@pytest.mark.parametrize("kwargs", [{}, {"attempt": 3}, {"temperature": 2.0}])
def test_echo_answers_exactly_its_text_whatever_the_settings(kwargs: dict[str, float]) -> None:
    assert demo_reply(ask("/echo said the answer"), **kwargs) == "said the answer"


async def test_the_model_takes_the_attempt_and_temperature_of_an_answer() -> None:
    model = DemoChatModel(token_delay=0, language="ja")
    messages = ask("Hi")
    chunks = [c async for c in model._astream(messages, attempt=1, temperature=1.0)]
    text = "".join(str(c.message.content) for c in chunks)
    assert text == demo_reply(messages, attempt=1, temperature=1.0, language="ja")
    assert model.invoke(messages).content == demo_reply(messages, language="ja")


def test_math_answers_with_inline_and_display_math_whatever_the_settings() -> None:
    """`/math` shows the page's math rendering offline (issue #22, math)."""
    for kwargs in ({}, {"attempt": 2, "temperature": 1.5}):
        reply = demo_reply(ask("/math"), **kwargs)
        assert "$e^{i\\pi} + 1 = 0$" in reply and "$$\\int_0^1" in reply and "$5 and $10" in reply
