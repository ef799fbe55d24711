"""Staff review in the Django admin: the registered pages (site.py), transcript
exports and usage (transcripts.py), and the thumbs icons (icons.py)."""

from . import site  # noqa: F401  (Django autodiscovers chat.admin)
