"""Files in the conversation through the page, in a real Chromium (issue #25): attached
by the Attach button, dropped on the chat and pasted into the message box, uploaded,
shown (name, size, a thumbnail for images), sent with the message and used by the
(offline demo) model; refused files say why and leave nothing stored."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

from tests.e2e.helpers import ChatTab, pump
from tests.support.files import EXE, pdf, png_image

pytestmark = pytest.mark.e2e

CSV = b"name,score\nada,3\nbob,5\n"
READY = "#attach-tray .tray-item[data-state=ready]"

# Hands files to the page as a drop on the messages or a paste into the message box:
# a DataTransfer holding Files, as the browser builds one for a real drag or paste.
HAND_OVER_JS = """
([how, files]) => {
  const dt = new DataTransfer();
  for (const [name, b64, type] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], name, { type }));
  }
  if (how === 'paste') {
    const input = document.getElementById('message-input');
    const init = { clipboardData: dt, bubbles: true, cancelable: true };
    input.dispatchEvent(new ClipboardEvent('paste', init));
    return;
  }
  const zone = document.getElementById('messages');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }
}
"""


def hand_over(page: Page, how: str, *files: tuple[str, bytes, str]) -> None:
    encoded = [[name, base64.b64encode(data).decode(), mime] for name, data, mime in files]
    page.evaluate(HAND_OVER_JS, [how, encoded])


def attach_by_button(page: Page, name: str, data: bytes, mime: str) -> None:
    with page.expect_file_chooser() as chooser:
        page.click("#attach-button")
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def stored_files(server_env: dict) -> list[Path]:
    root = Path(server_env["MEDIA_ROOT"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_files_attached_three_ways_reach_the_model_and_stay_in_the_transcript(
    new_user: Callable[..., ChatTab],
) -> None:
    tab = new_user()
    page = tab.page
    attach_by_button(page, "scores.csv", CSV, "text/csv")
    expect(page.locator(READY)).to_have_count(1)
    hand_over(page, "drop", ("report.pdf", pdf("Quarterly revenue rose 12 percent"), ""))
    expect(page.locator(READY)).to_have_count(2)
    hand_over(page, "paste", ("image.png", png_image(3, 2), "image/png"))  # a pasted screenshot
    expect(page.locator(READY)).to_have_count(3)
    tray = page.locator("#attach-tray")
    expect(tray).to_contain_text("scores.csv")
    expect(tray).to_contain_text("report.pdf")
    thumb = tray.locator("img.file-thumb")
    expect(thumb).to_have_count(1)
    page.wait_for_function(
        "() => document.querySelector('#attach-tray img.file-thumb').naturalWidth === 3"
    )

    answer = tab.ask("What do these files say?")
    tab.finish(answer)
    expect(tray).to_be_hidden()  # sent: the tray is empty
    said = tab.message_text(answer)
    expect(said).to_contain_text("I was sent 3 file(s)")
    expect(said).to_contain_text("scores.csv (a table of 2 rows; columns: name, score)")
    expect(said).to_contain_text("starting “Quarterly revenue rose 12 percent”")
    expect(said).to_contain_text("an image (PNG, 3×2 pixels)")

    conversation = tab.conversation(tab.conversation_id())
    question = conversation["messages"][0]
    names = sorted(f["name"] for f in question["attachments"])
    assert names == ["image.png", "report.pdf", "scores.csv"]
    # The question's bubble lists its files, also after a reload (from the history).
    page.reload()
    tab.wait_connected()
    files = page.locator(f'.message[data-id="{question["id"]}"] .message-files a.file-chip')
    expect(files).to_have_count(3)
    expect(files.filter(has_text="scores.csv")).to_contain_text(re.compile(r"\d+ byte"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('.message-files img.file-thumb')]"
        ".some((img) => img.naturalWidth === 3)"
    )
    href = files.filter(has_text="scores.csv").get_attribute("href") or ""
    download = page.request.get(f"{tab.base_url}{href}")
    assert download.status == 200 and download.body() == CSV
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_refused_and_removed_files_say_why_and_leave_nothing_stored(
    new_user: Callable[..., ChatTab], server_env: dict
) -> None:
    tab = new_user()
    page = tab.page
    before = stored_files(server_env)
    # An executable named .txt: the server reads its content and refuses it.
    attach_by_button(page, "notes.txt", EXE, "text/plain")
    failed = page.locator("#attach-tray .tray-item[data-state=failed]")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text(re.compile(r"not .*(text|supported)|cannot", re.I))
    assert stored_files(server_env) == before
    # An empty file is refused before any upload.
    hand_over(page, "drop", ("empty.txt", b"", "text/plain"))
    expect(page.locator("#composer-hint")).to_have_text("empty.txt is empty.")

    # A file taken back with its × is deleted on the server.
    attach_by_button(page, "keep.md", b"# Notes\n", "text/markdown")
    expect(page.locator(READY)).to_have_count(1)
    assert len(stored_files(server_env)) == len(before) + 1
    page.locator(READY).get_by_role("button", name="Remove keep.md").click()
    expect(page.locator(READY)).to_have_count(0)
    pump(page, lambda: len(stored_files(server_env)) == len(before), "the removed file deleted")

    # Files without a question: the page asks for one, and sends nothing.
    attach_by_button(page, "a.txt", b"alpha\n", "text/plain")
    expect(page.locator(READY)).to_have_count(1)
    page.locator("#attach-tray .tray-item[data-state=failed] .tray-remove").click()
    page.press("#message-input", "Enter")
    expect(page.locator("#composer-hint")).to_have_text("Write a message to go with the files.")
    expect(page.locator("#messages .message")).to_have_count(0)

    # More files than a message may carry: the extra ones are refused at once.
    hand_over(page, "drop", *[(f"f{i}.txt", b"x\n", "text/plain") for i in range(5)])
    expect(page.locator("#composer-hint")).to_have_text(
        re.compile(r"A message may carry at most \d+ files\.")
    )
    expect(page.locator("#attach-tray .tray-item")).to_have_count(5)
