"""The pages: the chat page (a conversation's own URL loads it), sign-up, the icon."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext

from chat.accounts.preferences import preferences_get, preferences_of_request
from chat.conversations import selectors
from chat.models import Conversation
from chat.provider import llm
from chat.provider.llm import model_display_name
from chat.streaming.delivery.chunking import MODES
from chat.transports.http.account import seen
from chat.transports.http.forms import USERNAME_NOT_AVAILABLE, SignupForm
from chat.transports.http.responses import AuthenticatedHttpRequest
from chat.webhooks import selectors as webhook_selectors
from security.responses import too_many_attempts
from security.throttle import signup_retry_after


def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers and tools ask for whatever the page links: the
    site's icon, a static file (pages link it with <link rel="icon"> themselves)."""
    return redirect(static("favicon.svg"))


@login_required
def index(request: AuthenticatedHttpRequest, conversation_id: Any = None) -> HttpResponse:
    """The chat page; at /c/<id>/ with that conversation open. Another's or a missing
    one: the same page with status 404 (it says the conversation does not exist)."""
    status = 200
    seen(request)  # the account page's "last seen" of this session
    if conversation_id is not None:
        try:
            selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        except Conversation.DoesNotExist:
            status = 404
    preferences = preferences_of_request(request) or preferences_get(user=request.user)
    config = {
        "model_name": model_display_name(),
        "models": llm.model_choices(),
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "chunk_modes": list(MODES),
        "initial_conversation_id": str(conversation_id) if conversation_id else "",
        "api_base": "/api/conversations/",
        # The sidebar lists the /v1 requests' conversations only when asked (?source=openai).
        "list_source": "openai" if request.GET.get("source") == "openai" else "",
        # ?archived=1: the archived conversations instead of the others.
        "list_archived": request.GET.get("archived") == "1",
        "ws_base": "/ws/chat/",
        # The appearance switch's state, and what a new chat's instructions start as.
        "theme": preferences.theme,
        "default_instructions": preferences.default_instructions,
        "temporary_hours": settings.CHAT_TEMPORARY_HOURS,
        # Files attached to a message (static/chat/attachments.js checks them first).
        "attachments_url": reverse("chat:api-attachments"),
        "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "attachment_max_per_message": settings.ATTACHMENT_MAX_PER_MESSAGE,
    }
    context = {
        "config": config,
        **config,
        # Told on the page: a webhook paused by failures (chat/webhooks).
        "webhooks_paused": webhook_selectors.paused_by_failures_count(owner=request.user),
        "theme_label": preferences.get_theme_display(),  # in the page's language
        "allow_public_shares": settings.ALLOW_PUBLIC_SHARES,
    }
    return render(request, "chat/index.html", context, status=status)


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_SIGNUP:
        # Closed (ALLOW_SIGNUP=0): a readable page, and nothing a POST could create.
        return render(request, "registration/signup_closed.html", status=404)
    if request.user.is_authenticated:
        return redirect("chat:index")
    if request.method == "POST":
        refused = signup_retry_after(request)
        if refused is not None:
            retry_after, whose = refused
            what = (
                gettext("Too many sign-up attempts from your address.")
                if whose == "address"
                else gettext("Too many sign-ups.")
            )
            return too_many_attempts(request, what, retry_after)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.create_account()
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("chat:index")
        form.add_error("username", USERNAME_NOT_AVAILABLE)
    return render(request, "registration/signup.html", {"form": form})
