from django.db import models


class SignupAttempt(models.Model):
    """One sign-up form submission, kept for the throttle's window (security.throttle).

    In the database, so every server process counts the same attempts."""

    ip_address = models.GenericIPAddressField()
    created = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["ip_address", "created"])]

    def __str__(self) -> str:
        return f"{self.ip_address} at {self.created:%Y-%m-%d %H:%M:%S}"
