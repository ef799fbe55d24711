"""Math in answers (issue #22): `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]` are rendered by the
vendored KaTeX in a real Chromium, money and code stay text, and math is no way around
the sanitizer (KaTeX runs with trust:false and its output has its own allow-list)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect

from tests.e2e.helpers import ChatTab

pytestmark = pytest.mark.e2e

NewUser = Callable[..., ChatTab]

MATH = r"Euler: $e^{i\pi}+1=0$ and $$\int_0^1 x^2\,dx = \frac13$$ costs $5 and $10"

# Renders `raw` with the page's own ChatMarkdown into a detached element.
RENDER_JS = """([raw, streaming]) => {
  const box = document.createElement('div');
  window.ChatMarkdown.renderInto(box, raw, { streaming });
  return { katex: box.querySelectorAll('.katex').length, text: box.textContent,
           em: box.querySelectorAll('em').length,
           code: box.querySelector('code')?.textContent || '' };
}"""


def test_math_renders_and_money_stays_text(new_user: NewUser) -> None:
    """Inline and display math become KaTeX (2 formulas); "$5 and $10" is text; `_` and
    `^` inside math are not Markdown emphasis."""
    tab = new_user()
    answer = tab.ask(f"/echo {MATH}")
    tab.finish(answer)
    assert tab.assert_wire_matches_db(tab.conversation_id(), answer)["content"] == MATH
    text = tab.message_text(answer)
    expect(text.locator(".katex")).to_have_count(2)
    expect(text.locator(".katex-display")).to_have_count(1)
    expect(text.locator(".katex-display annotation")).to_have_text(r"\int_0^1 x^2\,dx = \frac13")
    expect(text).to_contain_text("costs $5 and $10")
    assert text.locator("em").count() == 0
    # KaTeX's fonts come from this server (no CDN) and loaded: the formula is drawn in them.
    loaded = tab.page.evaluate(
        """() => document.fonts.ready.then(() => [...document.fonts]
          .filter((f) => f.family.includes('KaTeX') && f.status === 'loaded')
          .map((f) => f.family))"""
    )
    assert "KaTeX_Main" in " ".join(loaded) and "KaTeX_Math" in " ".join(loaded), loaded


def test_math_cannot_inject_active_content(new_user: NewUser) -> None:
    """`\\href{javascript:…}` and raw HTML inside math give no link, no image, no handler
    and no dialog: KaTeX shows them as (error-coloured) text."""
    tab = new_user()
    dialogs: list[str] = []
    tab.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    payload = (
        r"$\href{javascript:alert(1)}{x}$ and $<img src=x onerror=alert(2)>$ and "
        r"$\url{javascript:alert(3)}$ and $\htmlClass{x}{y}$ and \(\includegraphics{x.png}\)"
    )
    answer = tab.ask(f"/echo {payload}")
    tab.finish(answer)
    text = tab.message_text(answer)
    expect(text.locator(".katex")).to_have_count(5)
    tab.page.wait_for_timeout(300)  # a broken image's onerror would have fired by now
    assert dialogs == []
    messages = tab.page.locator("#messages")
    assert messages.locator("a[href^='javascript' i]").count() == 0
    assert text.locator("a, img, script, iframe, object").count() == 0
    assert messages.locator("[onerror], [onclick], [onload]").count() == 0
    expect(text).to_contain_text("<img src=x onerror=alert(2)>")


def test_a_wide_formula_scrolls_in_its_own_box_on_a_phone(new_user: NewUser) -> None:
    """A display formula wider than a phone scrolls inside its box; the page does not."""
    tab = new_user(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    wide = "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(24))  # about 2.5 phone widths
    answer = tab.ask(f"/echo Sum: $${wide}$$")
    tab.finish(answer)
    display = tab.message_text(answer).locator(".katex-display")
    expect(display).to_have_count(1)
    # The formula is wider than its box, and the box scrolls to its end.
    sizes = display.evaluate(
        "(el) => { el.scrollLeft = el.scrollWidth; "
        "return [el.scrollWidth, el.clientWidth, el.scrollLeft]; }"
    )
    assert sizes[0] > sizes[1] and sizes[2] > 0, sizes
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 390


def test_code_is_untouched_and_unclosed_math_streams_as_text(new_user: NewUser) -> None:
    """Dollars in code stay code; a `$$` block still arriving is text until its closing
    `$$` arrives, then one formula."""
    tab = new_user()
    tab.finish(tab.ask("/echo ready"))
    page = tab.page
    code = page.evaluate(RENDER_JS, ["`$a_b$` and\n```\n$x_1$\n```", False])
    assert code["katex"] == 0 and code["code"] == "$a_b$"
    half = page.evaluate(RENDER_JS, ["Area:\n\n$$\n\\int_0^1 x", True])
    assert half["katex"] == 0 and "$$" in half["text"]
    done = page.evaluate(RENDER_JS, ["Area:\n\n$$\n\\int_0^1 x\\,dx\n$$", True])
    assert done["katex"] == 1 and "$$" not in done["text"]
    brackets = page.evaluate(RENDER_JS, [r"\(a_1\) and \[b_2\] and \$5", False])
    assert brackets["katex"] == 2 and brackets["em"] == 0 and "$5" in brackets["text"]
