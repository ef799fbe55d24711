from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

from chat.transports.http import pages
from chat.transports.openai import views as openai_api
from security.mail import mail_configured

# Django's account pages; the password-reset ones only when mail can reach the user.
PASSWORD_RESET_PAGES = {
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}
account_pages = [
    page
    for page in auth_urls.urlpatterns
    if mail_configured() or getattr(page, "name", None) not in PASSWORD_RESET_PAGES
]

urlpatterns = [
    path("favicon.ico", pages.favicon),
    path("admin/", admin.site.urls),
    # The OpenAI-compatible API (chat/transports/openai/views.py): clients append these to
    # their base URL.
    path("v1/models", openai_api.models, name="openai-models"),
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("accounts/signup/", pages.signup, name="signup"),
    path("accounts/", include(account_pages)),
    # The language switch (Django's set_language: a POST, remembered in a cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("chat.urls")),
]

# JSON under /api/ and /v1/, Django's page elsewhere (DEBUG shows its own).
handler404 = "chat.edge.door_pages.page_not_found"
