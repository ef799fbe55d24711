from django.urls import path

from chat.transports.http import (
    account,
    attachments,
    conversations,
    pages,
    porting,
    preferences,
    presets,
    shares,
    speech,
    sse,
    summaries,
    token_views,
    webhook_views,
    webhooks,
)
from chat.transports.http.jsi18n import javascript_catalog
from chat.transports.http.usage import api_usage
from chat.transports.slack.views import slack_events

app_name = "chat"

CONVERSATION = "api/conversations/<str:conversation_id>/"

urlpatterns = [
    path("", pages.index, name="index"),
    path("c/<uuid:conversation_id>/", pages.index, name="conversation"),
    # The scripts' translations (static/chat/i18n.js), in the request's language.
    path("jsi18n/", javascript_catalog, name="jsi18n"),
    path("settings/", preferences.settings_page, name="settings"),
    path("settings/tokens/", token_views.tokens_page, name="tokens"),
    path("settings/webhooks/", webhook_views.webhooks_page, name="webhooks"),
    path(
        "settings/webhooks/<int:webhook_id>/",
        webhook_views.webhook_action,
        name="webhook-action",
    ),
    path("settings/account/", account.account_page, name="account"),
    path("settings/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token-revoke"),
    path("api/attachments/", attachments.api_attachments, name="api-attachments"),
    path(
        "api/attachments/<str:attachment_id>/",
        attachments.api_attachment,
        name="api-attachment",
    ),
    path("api/conversations/", conversations.api_conversations, name="api-conversations"),
    path(CONVERSATION, conversations.api_conversation, name="api-conversation"),
    path(f"{CONVERSATION}messages/", sse.api_messages, name="api-messages"),
    path(f"{CONVERSATION}stream/", sse.api_stream, name="api-stream"),
    path(f"{CONVERSATION}summary/", summaries.api_conversation_summary, name="api-summary"),
    path(f"{CONVERSATION}shares/", shares.api_conversation_shares, name="api-shares"),
    path("api/shares/", shares.api_shares, name="api-shares-all"),
    path("api/shares/<str:share_id>/", shares.api_share, name="api-share"),
    path("s/<str:token>/", shares.shared_page, name="shared"),
    path("api/models/", presets.api_models, name="api-models"),
    path("api/presets/", presets.api_presets, name="api-presets"),
    path("api/presets/<str:preset_id>/", presets.api_preset, name="api-preset"),
    path(f"{CONVERSATION}export/", porting.api_conversation_export, name="api-export-one"),
    path("api/export/", porting.api_export, name="api-export"),
    path("api/import/", porting.api_import, name="api-import"),
    path("api/search/", conversations.api_search, name="api-search"),
    path("api/usage/", api_usage, name="api-usage"),
    path("api/speech/<str:token>.wav", speech.api_speech, name="api-speech"),
    path("slack/events", slack_events, name="slack-events"),
    path("api/preferences/", preferences.api_preferences, name="api-preferences"),
    path("api/webhooks/", webhooks.api_webhooks, name="api-webhooks"),
    path("api/webhooks/<str:webhook_id>/", webhooks.api_webhook, name="api-webhook"),
    path(
        "api/webhooks/<str:webhook_id>/deliveries/",
        webhooks.api_webhook_deliveries,
        name="api-webhook-deliveries",
    ),
    path(
        "api/messages/<str:message_id>/feedback/",
        conversations.api_message_feedback,
        name="api-message-feedback",
    ),
]
