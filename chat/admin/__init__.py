"""Staff review in the Django admin: the registered pages (site.py), transcript
exports and usage (transcripts.py), the thumbs icons (icons.py) and webhooks
(webhooks.py)."""

from . import site, webhooks  # noqa: F401  (Django autodiscovers chat.admin)
