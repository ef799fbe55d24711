"""Whether this server can send mail: the password-reset pages exist only then (a reset
link that never arrives is a dead end, and pages that pretend to send one invite abuse)."""

from __future__ import annotations

from django.conf import settings

# Backends that deliver nothing anywhere a user could read it.
LOCAL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def mail_configured() -> bool:
    """An SMTP server is named (EMAIL_HOST), or another real backend is chosen (e.g. an
    HTTP mail service's own backend, which needs no EMAIL_HOST)."""
    if settings.EMAIL_HOST:
        return True
    return settings.EMAIL_BACKEND not in {SMTP_BACKEND, *LOCAL_BACKENDS}
