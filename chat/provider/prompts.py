"""What the server itself tells a model, besides the operator's and the user's words.

Here, below the streaming code that sends them, so that a model (the offline demo)
can recognise them."""

from __future__ import annotations

CONTINUE_PROMPT = "Continue your last answer exactly where it stopped, without repeating any of it."
