"""The page's theme: `{% theme_attribute %}` and `{% code_theme_media %}`
(chat/templatetags/chat_theme.py), and chat.css's two dark lists."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template

from chat.models import UserPreferences
from chat.templatetags.chat_theme import SYSTEM_MEDIA

CSS = Path(__file__).resolve().parents[3] / "static" / "chat" / "chat.css"
TEMPLATE = Template(
    "{% load chat_theme %}<html{% theme_attribute %}>"
    "{% code_theme_media 'light' %}|{% code_theme_media 'dark' %}|{% color_scheme %}"
)


def render(user: object) -> str:
    return TEMPLATE.render(Context({"request": SimpleNamespace(user=user)}))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("theme", "html", "media"),
    [
        (None, "<html>", f"{SYSTEM_MEDIA['light']}|{SYSTEM_MEDIA['dark']}|light dark"),
        ("system", "<html>", f"{SYSTEM_MEDIA['light']}|{SYSTEM_MEDIA['dark']}|light dark"),
        ("light", '<html data-theme="light">', "all|not all|light"),
        ("dark", '<html data-theme="dark">', "not all|all|dark"),
    ],
)
def test_the_users_choice_is_rendered(theme: str | None, html: str, media: str) -> None:
    user = get_user_model().objects.create_user("alice", password="x-pass-123")
    if theme is not None:
        UserPreferences.objects.create(user=user, theme=theme)
    assert render(user) == html + media


def test_signed_out_pages_follow_the_device() -> None:
    media = f"{SYSTEM_MEDIA['light']}|{SYSTEM_MEDIA['dark']}"
    assert render(AnonymousUser()) == f"<html>{media}|light dark"


def _variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))


def test_both_dark_lists_of_the_stylesheet_are_the_same() -> None:
    """Dark by choice (data-theme) and dark by the device are one palette."""
    css = CSS.read_text()
    chosen = re.search(r':root\[data-theme="dark"\] \{(.*?)\n\}', css, re.S)
    device = re.search(
        r'@media \(prefers-color-scheme: dark\) \{\s*:root:not\(\[data-theme="light"\]\) \{(.*?)\}',
        css,
        re.S,
    )
    assert chosen and device
    dark = _variables(chosen.group(1))
    assert dark and dark == _variables(device.group(1))
    light = _variables(re.search(r":root \{(.*?)\n\}", css, re.S).group(1))  # type: ignore[union-attr]
    assert set(dark) <= set(light) and dark["--bg"] != light["--bg"]
    assert css.count("prefers-color-scheme") == 1  # nothing else follows the device alone
