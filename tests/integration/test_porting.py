"""Export and import that keep branches (issue #24), through the test client and the
real database: round trips between users, a real-shaped ChatGPT export with its
regenerations and edits, rejected files, idempotency, storage limits, isolation, and
exports that stream in bounded memory."""

from __future__ import annotations

import gc
import io
import json
import threading
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.test import Client

from chat.accounts.api_tokens import token_create
from chat.conversations.porting.drafts import MAX_DEPTH
from chat.conversations.selectors import conversation_tree
from chat.models import Conversation, Message, Summary

pytestmark = pytest.mark.django_db

CHATGPT = Path(__file__).parent.parent / "data" / "chatgpt_conversations.json"
CODE = "Here:\n\n```python\ndef 挨拶():\n    return 'こんにちは'\n```\n"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add(conversation: Conversation, role: str, content: str, parent: Message | None = None):
    return Message.objects.create(
        conversation=conversation, role=role, content=content, parent=parent, model_name="m"
    )


def branchy(owner: Any) -> Conversation:
    """Three answers to the first question, and three versions of the second question
    under the third answer: three versions at two levels; Japanese and code."""
    c = Conversation.objects.create(owner=owner, title="枝分かれ", instructions="丁寧に。")
    q1 = add(c, "user", "日本語で説明して")
    a1 = add(c, "assistant", "一つ目の答え", q1)
    add(c, "assistant", "二つ目の答え", q1)
    a3 = add(c, "assistant", CODE, q1)
    add(c, "user", "続き 1", a1)
    add(c, "user", "続き A", a3)
    add(c, "user", "続き B", a3)
    qc = add(c, "user", "続き C", a3)
    leaf = add(c, "assistant", "最後の答え", qc)
    Conversation.objects.filter(pk=c.pk).update(leaf=leaf)
    c.refresh_from_db()
    return c


def shape(conversation: Conversation) -> dict[str, Any]:
    """The tree by content: each message's role, its parent's content, its siblings'
    contents in order; and the leaf's content. Ids play no part."""
    tree = conversation_tree(conversation_id=conversation.pk)
    by_id = {str(m.pk): m for m in conversation.messages.all()}
    text = {pk: m.content for pk, m in by_id.items()}
    nodes = {
        m.content: (m.role, text.get(str(m.parent_id)), [text[s] for s in tree.siblings(pk)])
        for pk, m in by_id.items()
    }
    conversation.refresh_from_db()
    return {"nodes": nodes, "leaf": text[str(conversation.leaf_id)]}


def post_json(client: Client, data: Any) -> Any:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return client.post("/api/import/", body, content_type="application/json")


def post_file(client: Client, raw: bytes, name: str = "conversations.json") -> Any:
    upload = io.BytesIO(raw)
    upload.name = name
    return client.post("/api/import/", {"file": upload})


def streamed(response: Any) -> bytes:
    assert response.status_code == 200 and response.streaming and response.is_async

    async def read() -> bytes:
        return b"".join([piece async for piece in response.streaming_content])

    return async_to_sync(read)()


def test_an_export_imported_by_another_user_is_the_same_tree(alice, bob) -> None:
    original = branchy(alice)
    raw = streamed(signed_in(alice).get(f"/api/conversations/{original.pk}/export/?format=json"))
    data = json.loads(raw)
    assert data["format"] == "chat-export" and data["version"] == 1
    (exported,) = data["conversations"]
    assert exported["instructions"] == "丁寧に。" and len(exported["messages"]) == 9
    response = post_json(signed_in(bob), data)
    assert response.status_code == 201, response.content
    assert response.json()["imported"] == 1 and response.json()["messages"] == 9
    copy = Conversation.objects.get(owner=bob)
    assert copy.title == "枝分かれ" and copy.instructions == "丁寧に。"
    assert shape(copy) == shape(original)
    assert shape(copy)["nodes"]["続き C"][2] == ["続き A", "続き B", "続き C"]
    assert shape(copy)["nodes"][CODE][2] == ["一つ目の答え", "二つ目の答え", CODE]
    # New rows: none of alice's ids is bob's, and alice's rows are as they were.
    assert not set(copy.messages.values_list("pk", flat=True)) & set(
        original.messages.values_list("pk", flat=True)
    )
    assert Message.objects.filter(conversation__owner=alice).count() == 9


def test_an_export_carries_its_summaries_and_imports_without_them(alice, bob) -> None:
    """Each conversation's summaries (text, branch point, status, edited) are in our
    JSON; importing it again gives the same tree, without the summaries."""
    original = branchy(alice)
    first_answer = original.messages.get(content="一つ目の答え")
    Summary.objects.create(
        conversation=original, covers=first_answer, text="要約です。", edited=True
    )
    raw = streamed(signed_in(alice).get(f"/api/conversations/{original.pk}/export/?format=json"))
    (exported,) = json.loads(raw)["conversations"]
    point = str(first_answer.pk)
    assert exported["summaries"] == [
        {"text": "要約です。", "covers_up_to": point, "status": "ready", "edited": True}
    ]
    response = post_json(signed_in(bob), json.loads(raw))
    assert response.status_code == 201, response.content
    copy = Conversation.objects.get(owner=bob)
    assert shape(copy) == shape(original) and not copy.summaries.exists()


def test_markdown_is_the_branch_shown_with_its_versions(alice) -> None:
    c = branchy(alice)
    response = signed_in(alice).get(f"/api/conversations/{c.pk}/export/?format=markdown")
    assert response["Content-Type"].startswith("text/markdown")
    text = streamed(response).decode()
    assert text.startswith("# 枝分かれ\n") and "> 丁寧に。" in text
    assert "## Assistant (m) · version 3 of 3" in text and "```python\ndef 挨拶()" in text
    assert "## You · version 3 of 3\n\n続き C" in text and text.rstrip().endswith("最後の答え")
    assert "一つ目の答え" not in text and "続き A" not in text  # other branches: JSON only


def test_the_account_zip_holds_the_json_and_one_markdown_per_conversation(alice, bob) -> None:
    branchy(alice)
    Conversation.objects.create(owner=alice, title='a/b: "c"?')
    Conversation.objects.create(owner=bob, title="bob's own")
    response = signed_in(alice).get("/api/export/")
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="chat-export-2')
    raw = streamed(response)
    archive = zipfile.ZipFile(io.BytesIO(raw))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == "conversations.json" and len(names) == 3
    assert all(n.startswith("markdown/") and n.endswith(".md") for n in names[1:])
    assert any("a-b- -c" in n for n in names)  # unsafe characters replaced
    data = json.loads(archive.read("conversations.json"))
    assert [c["title"] for c in data["conversations"]] == ["枝分かれ", 'a/b: "c"?']
    assert b"bob's own" not in raw
    # The zip's JSON, uploaded as a file, is an import like any other.
    response = post_file(signed_in(bob), archive.read("conversations.json"))
    assert response.status_code == 201 and response.json()["imported"] == 2


def test_a_chatgpt_export_keeps_its_regenerations_and_edits(alice) -> None:
    response = post_file(signed_in(alice), CHATGPT.read_bytes())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["imported"] == 2 and body["messages"] == 12 and body["left_out"] == 8
    trip = Conversation.objects.get(owner=alice, title="東京旅行の計画")
    tree = shape(trip)["nodes"]
    first = "東京で三日間、何をすればいいですか？"
    regenerated = "**一日目**: 浅草寺。\n**二日目**: 明治神宮。\n**三日目**: 東京タワー。"
    assert tree[first] == ("user", None, [first])  # system and hidden context left out
    assert tree[regenerated][2][1] == regenerated and len(tree[regenerated][2]) == 2
    photo = "[image]\n\nこの写真の場所をPythonで地図に出すには？"
    assert tree[photo] == ("user", regenerated, ["天気を調べて", photo])  # an edit
    assert tree["東京は晴れ、25度です。"][1] == "天気を調べて"  # the tool call left out
    assert (
        tree["ありがとう！"][1]
        == "一日目は浅草と上野、二日目は渋谷と原宿、三日目は築地と銀座がおすすめです。"
    )
    assert shape(trip)["leaf"].startswith("`folium` を使います")
    a4 = trip.messages.get(content__startswith="`folium`")
    assert a4.model_name == "o3" and "```python\nimport folium" in a4.content
    assert trip.created.year == 2024 and trip.import_key
    monad = Conversation.objects.get(owner=alice, title="Edited first question")
    nodes = shape(monad)["nodes"]
    roots = ["What is a monad?", "What is a monad, simply?"]
    assert nodes["What is a monad?"] == ("user", None, roots)  # edited first question
    assert shape(monad)["leaf"] == "A monoid in the category of endofunctors."
    assert monad.messages.get(role="assistant", model_name="gpt-4", status="stopped")


def test_importing_the_same_file_twice_adds_nothing(alice) -> None:
    client = signed_in(alice)
    assert post_file(client, CHATGPT.read_bytes()).status_code == 201
    counts = (Conversation.objects.count(), Message.objects.count())
    again = post_file(client, CHATGPT.read_bytes())
    assert again.status_code == 200
    assert again.json()["imported"] == 0 and again.json()["already_imported"] == 2
    assert (Conversation.objects.count(), Message.objects.count()) == counts


def test_one_file_imported_by_two_users_is_each_ones_own(alice, bob) -> None:
    assert post_file(signed_in(alice), CHATGPT.read_bytes()).status_code == 201
    assert post_file(signed_in(bob), CHATGPT.read_bytes()).status_code == 201
    assert Conversation.objects.filter(owner=bob).count() == 2


def chain(depth: int, *, cycle: bool = False) -> dict[str, Any]:
    messages = [
        {"id": f"m{n}", "parent_id": f"m{n - 1}" if n else None, "role": "user", "content": "x"}
        for n in range(depth)
    ]
    if cycle:
        messages[0]["parent_id"] = f"m{depth - 1}"
    return ours([{"id": "c1", "title": "t", "messages": messages}])


def ours(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": "chat-export", "version": 1, "conversations": conversations}


def one(role: str = "user", **fields: Any) -> dict[str, Any]:
    message = {"id": "m1", "parent_id": None, "role": role, "content": "hi"}
    return ours([{"id": "c1", "title": "t", "messages": [{**message, **fields}]}])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"format": "chat-export", "version": 1, "conversations": [', "not valid JSON"),
        (b"[1, 2, 3]", "neither an export"),
        (json.dumps(chain(5, cycle=True)).encode(), "cycle"),
        (json.dumps(chain(MAX_DEPTH + 1)).encode(), "deeper than"),
        (json.dumps(one("system")).encode(), "is not user or assistant"),
        (json.dumps(one(parent_id="elsewhere")).encode(), "unknown message"),
        (json.dumps({**one(), "version": 2}).encode(), "version 1"),
        (b'{"format": "chat-export", "version": 1, "version": 1}', "appears twice"),
        (json.dumps(ours([chain(2)["conversations"][0]] * 2)).encode(), "appears twice"),
    ],
    ids=["malformed", "unknown", "cycle", "depth", "role", "parent", "version", "key", "dup"],
)
def test_a_bad_file_is_refused_readably_and_nothing_is_written(alice, body, words) -> None:
    response = post_json(signed_in(alice), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert words in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_a_chatgpt_file_with_a_cycle_or_a_stranger_role_is_refused(alice) -> None:
    data = json.loads(CHATGPT.read_bytes())
    data[1]["mapping"]["root-2"]["parent"] = "r2"
    data[1]["mapping"]["r2"]["children"] = ["root-2"]
    response = post_file(signed_in(alice), json.dumps(data).encode())
    assert response.status_code == 400 and "cycle" in response.json()["error"]["message"]
    data = json.loads(CHATGPT.read_bytes())
    data[1]["mapping"]["q1"]["message"]["author"]["role"] = "wizard"
    response = post_file(signed_in(alice), json.dumps(data).encode())
    assert response.status_code == 400 and "wizard" in response.json()["error"]["message"]
    assert not Conversation.objects.exists()  # the first, valid one was not written either


def test_a_file_over_the_size_limit_is_refused(alice, settings) -> None:
    settings.IMPORT_MAX_BYTES = 1000
    big = json.dumps(chain(60)).encode()
    for response in (post_json(signed_in(alice), big), post_file(signed_in(alice), big)):
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "too_long" and error["max_bytes"] == 1000
    assert not Conversation.objects.exists()


def test_an_import_past_the_storage_limits_is_refused_whole(alice, settings) -> None:
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 1
    response = post_file(signed_in(alice), CHATGPT.read_bytes())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "storage_full"
    assert "2 new conversations" in response.json()["error"]["message"]
    settings.CHAT_MAX_CONVERSATIONS_PER_USER = 10
    settings.CHAT_MAX_STORED_BYTES_PER_USER = 200
    response = post_file(signed_in(alice), CHATGPT.read_bytes())
    assert response.status_code == 403 and "MB of text" in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_no_one_exports_or_touches_another_users_conversations(alice, bob, client) -> None:
    mine = branchy(alice)
    for kind in ("json", "markdown"):
        response = signed_in(bob).get(f"/api/conversations/{mine.pk}/export/?format={kind}")
        assert response.status_code == 404
    assert client.get("/api/export/").status_code == 401
    assert client.post("/api/import/", b"{}", content_type="application/json").status_code == 401
    # Bob imports alice's export, naming her conversation's and messages' ids: his
    # rows are new ones, hers unchanged.
    before = list(Message.objects.filter(conversation=mine).values_list("pk", "content", "parent"))
    data = json.loads(streamed(signed_in(alice).get(f"/api/conversations/{mine.pk}/export/")))
    assert post_json(signed_in(bob), data).status_code == 201
    assert Conversation.objects.get(pk=mine.pk).owner == alice
    after = list(Message.objects.filter(conversation=mine).values_list("pk", "content", "parent"))
    assert after == before
    assert (
        signed_in(alice).get(f"/api/conversations/{mine.pk}/export/?format=csv").status_code == 400
    )


BULK = 2_000


def bulk(owner: Any) -> Conversation:
    """One conversation of 2,000 messages of about 5 KB (a regenerated answer every
    tenth question: a branchy tree), about 10 MB of text."""
    c = Conversation.objects.create(owner=owner, title="bulk")
    rows, parent = [], None
    for n in range(BULK):
        row = Message(
            conversation=c,
            parent=parent,
            role="user" if n % 2 == 0 else "assistant",
            content=f"message {n} " + "日本語とcode " * 500,
        )
        rows.append(row)
        if not (n % 20 == 1 and n > 1):
            parent = row
    Message.objects.bulk_create(rows)
    return c


def peak_while_reading(response: Any) -> tuple[int, int]:
    """Reads a streamed response under tracemalloc: (bytes read, peak bytes allocated)."""

    async def read() -> int:
        size = 0
        async for piece in response.streaming_content:
            size += len(piece)
        return size

    gc.collect()
    tracemalloc.start()
    try:
        size = async_to_sync(read)()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, peak


def test_large_exports_stream_in_bounded_memory(alice) -> None:
    c = bulk(alice)
    client = signed_in(alice)
    for url in (f"/api/conversations/{c.pk}/export/", "/api/export/"):
        response = client.get(url)
        assert response.streaming and response.is_async
        size, peak = peak_while_reading(response)
        print(f"{url}: {size:,} bytes streamed, peak {peak:,} bytes traced")
        assert peak < 6_000_000
        assert size > (10_000_000 if url != "/api/export/" else 100_000)
    response = client.get(f"/api/conversations/{c.pk}/export/?format=markdown")
    size, peak = peak_while_reading(response)
    print(f"markdown: {size:,} bytes streamed, peak {peak:,} bytes traced")
    assert peak < 6_000_000 and size > 5_000_000


def test_scripts_use_tokens_a_read_token_exports_only_and_a_session_needs_csrf(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    _, full = token_create(user=alice, name="full")
    _, read = token_create(user=alice, name="read", scope="read")
    raw = CHATGPT.read_bytes()
    response = client.post(
        "/api/import/", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {full}"
    )
    assert response.status_code == 201
    refused = client.post(
        "/api/import/", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {read}"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_allowed"
    assert streamed(client.get("/api/export/", HTTP_AUTHORIZATION=f"Bearer {read}"))
    client.force_login(alice)
    no_csrf = client.post("/api/import/", raw, content_type="application/json")
    assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf_failed"
    assert Conversation.objects.filter(owner=alice).count() == 2


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_is_read_for_its_conversations_json_within_the_size_limit(alice, bob, settings):
    branchy(alice)
    account_zip = streamed(signed_in(alice).get("/api/export/"))
    response = post_file(signed_in(bob), account_zip, "chat-export.zip")
    assert response.status_code == 201 and response.json()["imported"] == 1
    chatgpt_zip = zipped({"user.json": b"{}", "conversations.json": CHATGPT.read_bytes()})
    assert post_file(signed_in(bob), chatgpt_zip, "export.zip").json()["imported"] == 2
    refused = post_file(signed_in(bob), zipped({"chat.html": b"<html>"}), "other.zip")
    assert (
        refused.status_code == 400 and "no conversations.json" in refused.json()["error"]["message"]
    )
    # Small when zipped, too big unzipped (a zip bomb's shape): refused before it is inflated.
    settings.IMPORT_MAX_BYTES = 100_000
    bomb = zipped({"conversations.json": b"[" + b" " * 1_000_000 + b"]"})
    assert len(bomb) < 100_000
    response = post_file(signed_in(bob), bomb, "bomb.zip")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_long"
    broken = post_file(signed_in(bob), b"PK\x03\x04 not really a zip", "broken.zip")
    assert broken.status_code == 400 and "zip cannot be read" in broken.json()["error"]["message"]
    assert Conversation.objects.filter(owner=bob).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_is_added_once(alice) -> None:
    """Two requests at once (two threads, two database connections): the user's quota
    row serialises them, so the second finds the first's import keys."""
    raw = CHATGPT.read_bytes()
    start = threading.Barrier(2)
    statuses: list[int] = []

    def upload() -> None:
        try:
            client = signed_in(alice)
            start.wait(timeout=10)
            statuses.append(post_file(client, raw).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200, 201]
    assert Conversation.objects.filter(owner=alice).count() == 2
    assert Message.objects.filter(conversation__owner=alice).count() == 12
