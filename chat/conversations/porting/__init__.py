"""Export and import that keep branches (issue #24): our versioned JSON and Markdown
out (streamed), our JSON and ChatGPT's `conversations.json` in (validated, atomic,
idempotent, within the user's storage). `drafts.py`, `ours.py` and `chatgpt.py` are
pure; `importing.py` writes; `exporting.py` reads, as streams."""
