"""An answer's Markdown written as Slack's mrkdwn."""

from __future__ import annotations

import pytest

from chat.slack.mrkdwn import to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "slack"),
    [
        ("plain text", "plain text"),
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("see [the docs](https://example.com/a?b=1)", "see <https://example.com/a?b=1|the docs>"),
        ("## A heading", "*A heading*"),
        ("~~gone~~", "~gone~"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("`code` stays", "`code` stays"),
        ("*italic* stays", "*italic* stays"),
        ("[not a link](ftp://x)", "[not a link](ftp://x)"),
    ],
)
def test_to_mrkdwn(markdown: str, slack: str) -> None:
    assert to_mrkdwn(markdown) == slack
