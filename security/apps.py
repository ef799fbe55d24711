from django.apps import AppConfig


class SecurityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "security"
    verbose_name = "Abuse protection"

    def ready(self) -> None:
        from . import lockout  # noqa: F401 (connects its signal receiver)
