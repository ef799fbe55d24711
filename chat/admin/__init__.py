"""Staff review in the Django admin: the registered pages (site.py, preferences.py),
transcript exports and usage (transcripts.py), the thumbs icons (icons.py), webhooks
(webhooks.py), share links (shares.py) and the Slack bot's user mapping (slack.py)."""

from . import preferences, shares, site, slack, webhooks  # noqa: F401  (Django autodiscovers chat.admin)
