from django.urls import path

from chat.transports.http import sse as api_stream
from chat.transports.http import token_views, views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("c/<uuid:conversation_id>/", views.index, name="conversation"),
    path("settings/tokens/", token_views.tokens_page, name="tokens"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        token_views.token_revoke,
        name="token-revoke",
    ),
    path("api/conversations/", views.api_conversations, name="api-conversations"),
    path(
        "api/conversations/<str:conversation_id>/",
        views.api_conversation,
        name="api-conversation",
    ),
    path(
        "api/conversations/<str:conversation_id>/messages/",
        api_stream.api_messages,
        name="api-messages",
    ),
    path(
        "api/conversations/<str:conversation_id>/stream/",
        api_stream.api_stream,
        name="api-stream",
    ),
    path("api/models/", views.api_models, name="api-models"),
    path("api/presets/", views.api_presets, name="api-presets"),
    path("api/presets/<str:preset_id>/", views.api_preset, name="api-preset"),
    path("api/search/", views.api_search, name="api-search"),
    path(
        "api/messages/<str:message_id>/feedback/",
        views.api_message_feedback,
        name="api-message-feedback",
    ),
]
