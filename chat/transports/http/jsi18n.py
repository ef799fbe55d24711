"""The scripts' translations: Django's JavaScript catalogue of the `djangojs` domain
(locale/<code>/LC_MESSAGES/djangojs.po) in the request's language, which
LocaleMiddleware has chosen. It defines the globals `gettext`, `ngettext`,
`interpolate`, `get_format` and `pluralidx` that static/chat/i18n.js wraps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_language
from django.views.decorators.cache import cache_control
from django.views.decorators.http import etag
from django.views.i18n import JavaScriptCatalog


def catalogue_version() -> str:
    """Changes whenever a compiled catalogue does (read once: a deploy restarts)."""
    stamps = [
        f"{mo.stat().st_mtime_ns:x}"
        for path in settings.LOCALE_PATHS
        for mo in sorted(Path(path).glob("*/LC_MESSAGES/djangojs.mo"))
    ]
    return "-".join(stamps) or "0"


VERSION = catalogue_version()


def catalogue_etag(request: HttpRequest, *args: Any, **kwargs: Any) -> str:
    # The same URL serves every language: the ETag names the language, so a browser
    # that switched language (a cookie, or Accept-Language) gets the new catalogue.
    return f"{get_language()}-{VERSION}"


# Revalidated on every page load (a 304 while nothing changed), never served stale.
javascript_catalog = cache_control(no_cache=True)(
    etag(catalogue_etag)(JavaScriptCatalog.as_view(domain="djangojs", packages=["chat"]))
)
