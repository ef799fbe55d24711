"""Staff review in the Django admin: the registered pages (site.py, preferences.py),
transcript exports and usage (transcripts.py), the thumbs icons (icons.py), webhooks
(webhooks.py) and share links (shares.py)."""

from . import preferences, shares, site, webhooks  # noqa: F401  (Django autodiscovers chat.admin)
