"""ChatGPT's `conversations.json` (its data export) read into drafts, keeping the
tree: pure.

Each conversation has a `mapping` of nodes (`id`, `parent`, `children`, `message`
with `author.role`, `content.parts`, `create_time`, `status`, `metadata`) and a
`current_node`, the message it showed last. A regenerated answer is another child of
the same question, an edited question another child of the same answer: they stay
siblings here, our versions. What we keep: user and assistant messages with text,
addressed to everyone (`recipient` "all"), not hidden. What we leave out: the empty
root, system and developer messages (instructions the model got), tool calls and tool
output (`recipient` not "all", role `tool`), hidden ones (`is_visually_hidden...`,
the custom-instructions context), reasoning (`thoughts`, `reasoning_recap`) and
messages with no text; a left-out node's children follow its nearest kept ancestor
(so edits of the first question, children of the hidden system message, become
sibling roots). Images in a message become "[image]". The current node, when left out,
is shown through its nearest kept ancestor.
"""

from __future__ import annotations

from typing import Any

from chat.conversations.porting.drafts import (
    Draft,
    DraftMessage,
    ImportInvalid,
    check_tree,
    finish,
    parse_time,
)

SOURCE = "chatgpt"
KEPT_ROLES = ("user", "assistant")
LEFT_OUT_ROLES = ("system", "tool", "developer", "critic")
TEXT_TYPES = ("text", "multimodal_text")
DONE = "finished_successfully"


def is_chatgpt(data: object) -> bool:
    """A list of conversations with a `mapping`, or one such conversation."""
    if isinstance(data, dict):
        return "mapping" in data
    return isinstance(data, list) and all(isinstance(c, dict) and "mapping" in c for c in data)


def read_chatgpt(data: list[Any] | dict[str, Any]) -> list[Draft]:
    items = [data] if isinstance(data, dict) else data
    drafts: list[Draft] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        draft = read_conversation(item, f"conversation {index + 1}")
        if draft.source_id in seen:
            raise ImportInvalid(f"The conversation {draft.source_id} appears twice.")
        seen.add(draft.source_id)
        drafts.append(draft)
    return drafts


def read_nodes(mapping: object, where: str) -> dict[str, dict[str, Any]]:
    """The mapping checked as a graph: each node's `parent` a node of it (or null), its
    `children` nodes that name it as their parent."""
    if not isinstance(mapping, dict) or not mapping:
        raise ImportInvalid(f'{where}: "mapping" must be an object of nodes.')
    for key, node in mapping.items():
        if not isinstance(node, dict) or node.get("id", key) != key:
            raise ImportInvalid(f"{where}: the node {key[:60]} is not a node of that id.")
        parent = node.get("parent")
        if parent is not None and (not isinstance(parent, str) or parent not in mapping):
            raise ImportInvalid(f"{where}: the node {key[:60]} follows an unknown node.")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise ImportInvalid(f"{where}: the children of node {key[:60]} must be a list.")
        for child in children:
            if not isinstance(child, str) or child not in mapping:
                raise ImportInvalid(f"{where}: the node {key[:60]} has an unknown child.")
            if mapping[child].get("parent") != key:
                raise ImportInvalid(
                    f"{where}: the node {child[:60]} is a child of {key[:60]} but names "
                    "another parent."
                )
    return mapping


def read_conversation(item: object, where: str) -> Draft:
    if not isinstance(item, dict):
        raise ImportInvalid(f"{where} is not an object.")
    source_id = item.get("conversation_id") or item.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise ImportInvalid(f'{where} has no "conversation_id".')
    nodes = read_nodes(item.get("mapping"), where)
    check_tree({key: node.get("parent") for key, node in nodes.items()}, where)
    kept = {key: message_of(key, node, f"{where}, node {key[:60]}") for key, node in nodes.items()}
    messages: list[DraftMessage] = []
    parents: dict[str, str | None] = {}
    for key, node in nodes.items():
        message = kept[key]
        if message is None:
            continue
        message.parent = kept_ancestor(node.get("parent"), nodes, kept)
        parents[key] = message.parent
        messages.append(message)
    current = item.get("current_node")
    leaf = kept_ancestor(current, nodes, kept) if isinstance(current, str) else None
    title = item.get("title")
    draft = Draft(
        source=SOURCE,
        source_id=source_id,
        title=title if isinstance(title, str) else "",
        messages=messages,
        leaf=leaf,
        created=parse_time(item.get("create_time"), where),
        skipped=len(nodes) - len(messages),
    )
    return finish(draft, parents, where)


def kept_ancestor(
    key: str | None, nodes: dict[str, dict[str, Any]], kept: dict[str, DraftMessage | None]
) -> str | None:
    """`key` if it is kept, else its nearest kept ancestor (the tree has no cycle)."""
    while key is not None and key in nodes:
        if kept[key] is not None:
            return key
        key = nodes[key].get("parent")
    return None


def message_of(key: str, node: dict[str, Any], where: str) -> DraftMessage | None:
    """The node's message as ours, or None when it is left out (module docstring)."""
    message = node.get("message")
    if message is None:
        return None
    if not isinstance(message, dict):
        raise ImportInvalid(f"{where}: its message is not an object.")
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if role not in KEPT_ROLES:
        if role in LEFT_OUT_ROLES:
            return None
        raise ImportInvalid(f"{where}: the role {str(role)[:30]!r} is unknown.")
    metadata = message.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ImportInvalid(f"{where}: its metadata is not an object.")
    hidden = metadata.get("is_visually_hidden_from_conversation") or metadata.get(
        "is_user_system_message"
    )
    if hidden or message.get("recipient", "all") != "all":
        return None
    content = text_of(message.get("content"), where)
    if not content.strip():
        return None
    model = metadata.get("model_slug")
    return DraftMessage(
        key=key,
        parent=None,
        role=role,
        content=content,
        created=parse_time(message.get("create_time"), where),
        status="complete" if message.get("status", DONE) == DONE else "stopped",
        model=model[:200] if isinstance(model, str) and role == "assistant" else "",
    )


def text_of(content: object, where: str) -> str:
    """The text of a message's `content`: its string parts, an image as "[image]";
    other kinds of content (code for a tool, reasoning) have none."""
    if not isinstance(content, dict):
        raise ImportInvalid(f"{where}: its content is not an object.")
    if content.get("content_type") not in TEXT_TYPES:
        return ""
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise ImportInvalid(f"{where}: its content has no list of parts.")
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and "image" in str(part.get("content_type", "")):
            texts.append("[image]")
    return "\n\n".join(t for t in texts if t)
