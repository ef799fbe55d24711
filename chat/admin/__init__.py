"""Staff review in the Django admin: the registered pages (site.py, preferences.py),
transcript exports and usage (transcripts.py), the thumbs icons (icons.py) and webhooks
(webhooks.py)."""

from . import preferences, site, webhooks  # noqa: F401  (Django autodiscovers chat.admin)
