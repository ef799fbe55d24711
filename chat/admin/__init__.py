"""Staff review in the Django admin: the registered pages (site.py, preferences.py),
transcript exports and usage (transcripts.py), the thumbs icons (icons.py), webhooks
(webhooks.py) and the Slack bot's user mapping (slack.py)."""

from . import preferences, site, slack, webhooks  # noqa: F401  (Django autodiscovers chat.admin)
