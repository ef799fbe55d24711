"""Webhooks in the admin: staff see every subscription and may subscribe a URL to any
conversation (the owner is whoever they name, themselves by default); deliveries are
read-only, for finding why one failed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from chat.admin.site import ReadOnlyAdmin
from chat.models import WebhookDelivery, WebhookSubscription
from chat.webhooks import services, signing
from chat.webhooks.targets import TargetRefused


class WebhookSubscriptionForm(forms.ModelForm):
    class Meta:
        model = WebhookSubscription
        fields = ("owner", "conversation", "url", "mode", "format", "active")

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            services.target_check(url)
        except TargetRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url.strip()


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = (
        "id",
        "owner",
        "conversation",
        "url",
        "mode",
        "format",
        "active",
        "paused_reason",
        "consecutive_failures",
        "created",
    )
    list_filter = ("active", "mode", "format")
    list_select_related = ("owner", "conversation")
    search_fields = ("owner__username", "url")
    raw_id_fields = ("owner", "conversation")
    readonly_fields = ("secret", "paused_reason", "consecutive_failures", "created")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk}

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        """A new one gets its secret; resuming one clears its failures (services)."""
        if not change:
            obj.secret = signing.new_secret()
            obj.save()
            return
        was_active = WebhookSubscription.objects.get(pk=obj.pk).active
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        changes.pop("url", None)  # checked by the form already
        obj.active = was_active
        services.subscription_update(subscription=obj, changes=changes)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The outbox, read-only."""

    list_display = (
        "id",
        "subscription",
        "message_id",
        "seq",
        "status",
        "attempts",
        "response_status",
        "last_error",
        "created",
        "delivered_at",
    )
    list_filter = ("status",)
    list_select_related = ("subscription",)
    search_fields = ("=message_id", "=subscription__id")
