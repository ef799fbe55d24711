"""The JSON API of a user's webhooks: subscriptions (`/api/webhooks/`, one with
`<id>/`: its secret, a PATCH to change, pause or resume it, DELETE) and their recent
deliveries (`<id>/deliveries/`). Async: a URL is checked against the SSRF rule, which
resolves its host, on the database threads, never on the thread sync views share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from chat.db import db_call
from chat.errors import ErrorCode
from chat.models import Conversation, WebhookSubscription
from chat.transports.http.forms import PartialForm
from chat.transports.http.responses import json_error, request_user, valid_form
from chat.webhooks import selectors, serializers, services
from chat.webhooks.targets import TargetRefused

if TYPE_CHECKING:
    from chat.models import User

NOT_FOUND = "No such webhook."


class WebhookForm(PartialForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    mode = forms.ChoiceField(choices=WebhookSubscription.Mode.choices, required=False)
    format = forms.ChoiceField(choices=WebhookSubscription.Format.choices, required=False)
    conversation_id = forms.UUIDField(required=False)
    active = forms.NullBooleanField(required=False)


async def _user(request: HttpRequest) -> User | None:
    user = await request_user(request)
    return user if user.is_authenticated else None


def _unauthenticated() -> JsonResponse:
    return json_error(401, ErrorCode.NOT_AUTHENTICATED, "Log in first.")


async def _owned(request: HttpRequest, webhook_id: str) -> WebhookSubscription | HttpResponse:
    """The signed-in user's subscription, or the JSON 401 or 404 to answer instead."""
    if (user := await _user(request)) is None:
        return _unauthenticated()
    try:
        return await db_call(selectors.subscription_get)(owner=user, subscription_id=webhook_id)
    except WebhookSubscription.DoesNotExist:
        return json_error(404, ErrorCode.NOT_FOUND, NOT_FOUND)


def _refused(exc: TargetRefused) -> JsonResponse:
    fields = {"url": [{"message": str(exc), "code": "refused"}]}
    return json_error(400, ErrorCode.INVALID, f"The URL is refused: {exc}", fields=fields)


@require_http_methods(["GET", "POST"])
async def api_webhooks(request: HttpRequest) -> HttpResponse:
    """The user's subscriptions (newest first), or a new one (its secret shown)."""
    if (user := await _user(request)) is None:
        return _unauthenticated()
    if request.method == "GET":
        found = await db_call(lambda: list(selectors.subscription_list(owner=user)))()
        return JsonResponse({"webhooks": [serializers.subscription_to_dict(s) for s in found]})
    form, error = valid_form(request, WebhookForm, "webhook", partial=False)
    if error:
        return error
    try:
        created = await db_call(_create)(user, form.cleaned_data)
    except TargetRefused as exc:
        return _refused(exc)
    if isinstance(created, HttpResponse):
        return created
    return JsonResponse(serializers.subscription_to_dict(created, with_secret=True), status=201)


def _create(user: User, data: dict[str, Any]) -> WebhookSubscription | HttpResponse:
    conversation = None
    if data.get("conversation_id") is not None:
        conversation = Conversation.objects.filter(owner=user, pk=data["conversation_id"]).first()
        if conversation is None:
            return json_error(404, ErrorCode.NOT_FOUND, "No such conversation.")
    try:
        return services.subscription_create(
            owner=user,
            url=data["url"],
            mode=data.get("mode") or WebhookSubscription.Mode.SENTENCE,
            format=data.get("format") or WebhookSubscription.Format.JSON,
            conversation=conversation,
        )
    except services.TooManySubscriptions:
        most = services.MAX_SUBSCRIPTIONS
        return json_error(
            409, ErrorCode.INVALID, f"You have {most} webhooks already: delete one first."
        )


@require_http_methods(["GET", "PATCH", "DELETE"])
async def api_webhook(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """One subscription: read (with its secret), change (`active` true resumes a
    paused one), delete."""
    found = await _owned(request, webhook_id)
    if isinstance(found, HttpResponse):
        return found
    if request.method == "DELETE":
        await db_call(services.subscription_delete)(subscription=found)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        form, error = valid_form(request, WebhookForm, "webhook")
        if error:
            return error
        changes = {k: v for k, v in form.cleaned_data.items() if k != "conversation_id"}
        if changes.get("active") is None:
            changes.pop("active", None)
        try:
            await db_call(services.subscription_update)(subscription=found, changes=changes)
        except TargetRefused as exc:
            return _refused(exc)
    return JsonResponse(serializers.subscription_to_dict(found, with_secret=True))


@require_http_methods(["GET"])
async def api_webhook_deliveries(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """The subscription's recent deliveries, newest first, failures with their error."""
    found = await _owned(request, webhook_id)
    if isinstance(found, HttpResponse):
        return found
    recent = await db_call(selectors.deliveries_recent)(subscription=found)
    return JsonResponse(
        {
            "webhook": serializers.subscription_to_dict(found),
            "deliveries": [serializers.delivery_to_dict(d) for d in recent],
        }
    )
