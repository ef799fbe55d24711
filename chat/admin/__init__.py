"""Staff review in the Django admin: the registered pages (site.py, preferences.py),
transcript exports and usage (transcripts.py), and the thumbs icons (icons.py)."""

from . import preferences, site  # noqa: F401  (Django autodiscovers chat.admin)
