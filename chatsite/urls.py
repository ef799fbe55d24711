from django.contrib import admin
from django.urls import include, path

from chat.transports.http import pages
from chat.transports.openai import views as openai_api

urlpatterns = [
    path("favicon.ico", pages.favicon),
    path("admin/", admin.site.urls),
    # The OpenAI-compatible API (chat/transports/openai/views.py): clients append these to
    # their base URL.
    path("v1/models", openai_api.models, name="openai-models"),
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("accounts/signup/", pages.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]
