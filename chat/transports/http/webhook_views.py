"""The user's webhooks page (issue #23): subscribe a URL to one conversation or to all,
see each subscription's recent deliveries and failures, why one is paused, pause,
resume or delete it. A session page (under /settings/, which tokens never reach); the
JSON API (webhooks.py) does the same for scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from chat.models import Conversation, WebhookSubscription
from chat.transports.http.responses import AuthenticatedHttpRequest
from chat.transports.http.token_views import session_required
from chat.webhooks import selectors, services
from chat.webhooks.targets import TargetRefused

if TYPE_CHECKING:
    from chat.models import User

CONVERSATION_CHOICES = 50  # the newest conversations offered in the form
ALL = ""


class WebhookPageForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=_("Where each chunk is POSTed: your receiver, or a Slack or Discord webhook."),
    )
    conversation = forms.ChoiceField(label=_("Answers of"), required=False)
    mode = forms.ChoiceField(
        label=_("One post per"),
        choices=WebhookSubscription.Mode.choices,
        initial=WebhookSubscription.Mode.SENTENCE,
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[
            (WebhookSubscription.Format.JSON, _("JSON (signed; message id, seq, text, status)")),
            (WebhookSubscription.Format.SLACK, _("Slack incoming webhook")),
            (WebhookSubscription.Format.DISCORD, _("Discord webhook")),
        ],
    )

    def __init__(self, data: QueryDict | None, *, user: User) -> None:
        super().__init__(data)
        recent = Conversation.objects.filter(owner=user, expires__isnull=True).order_by("-updated")
        field = cast(forms.ChoiceField, self.fields["conversation"])
        field.choices = [(ALL, gettext("All my conversations"))] + [
            (str(c.pk), c.title or gettext("Untitled")) for c in recent[:CONVERSATION_CHOICES]
        ]


@session_required
@require_http_methods(["GET", "POST"])
def webhooks_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The list with each one's recent deliveries, and the form; a POST that subscribes
    redirects to the page (post/redirect/get)."""
    form = WebhookPageForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid() and _create(request, form):
        messages.success(request, gettext("Webhook added."))
        return redirect("chat:webhooks")
    subscriptions = list(selectors.subscription_list(owner=request.user))
    rows = [(s, selectors.deliveries_recent(subscription=s, limit=5)) for s in subscriptions]
    context = {"form": form, "rows": rows, "max": services.MAX_SUBSCRIPTIONS}
    return render(request, "chat/webhooks.html", context)


def _create(request: AuthenticatedHttpRequest, form: WebhookPageForm) -> bool:
    data = form.cleaned_data
    conversation = None
    if data["conversation"] != ALL:
        conversation = Conversation.objects.filter(
            owner=request.user, pk=data["conversation"]
        ).first()
    try:
        services.subscription_create(
            owner=request.user,
            url=data["url"],
            mode=data["mode"],
            format=data["format"],
            conversation=conversation,
        )
    except services.TooManySubscriptions:
        most = {"count": services.MAX_SUBSCRIPTIONS}
        message = gettext("You have %(count)s webhooks already: delete one first.") % most
        form.add_error(None, message)
        return False
    except TargetRefused as exc:
        form.add_error("url", gettext("This address is refused: %(reason)s") % {"reason": exc})
        return False
    return True


@session_required
@require_http_methods(["POST"])
def webhook_action(request: AuthenticatedHttpRequest, webhook_id: int) -> HttpResponse:
    """Pause, resume or delete one of the user's subscriptions (another's: 404)."""
    try:
        found = selectors.subscription_get(owner=request.user, subscription_id=webhook_id)
    except WebhookSubscription.DoesNotExist:
        raise Http404(gettext("No such webhook.")) from None
    action = request.POST.get("action")
    if action == "delete":
        services.subscription_delete(subscription=found)
        messages.success(request, gettext("Webhook deleted."))
    elif action in ("pause", "resume"):
        services.subscription_update(subscription=found, changes={"active": action == "resume"})
        done = gettext("Webhook resumed.") if action == "resume" else gettext("Webhook paused.")
        messages.success(request, done)
    else:
        messages.error(request, gettext("Unknown action."))
    return redirect("chat:webhooks")
