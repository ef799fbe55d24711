from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        from chat.accounts import signals  # noqa: F401  (connects the receivers)
        from chat.conversations import attachments  # noqa: F401  (removes stored files)
        from chat.streaming.stream import post
        from chat.transports.webhooks import producer

        post.on_answer_start(producer.answer_started)  # webhooks follow every answer
