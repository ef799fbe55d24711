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
        from chat.provider import reach
        from chat.telemetry import startpath

        if startpath.model_request not in reach.REQUEST_HOOKS:  # the start clock stops
            reach.REQUEST_HOOKS.append(startpath.model_request)
