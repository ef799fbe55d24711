from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password, nothing else: the smallest account a chat needs."""


class ConversationForm(forms.Form):
    """Validates the JSON body of a conversation create or rename."""

    title = forms.CharField(max_length=200, required=False, strip=True)


class FeedbackForm(forms.Form):
    """Validates the JSON body of a thumbs up/down: rating up, down or null (withdraw)."""

    rating = forms.ChoiceField(choices=[("up", "up"), ("down", "down")], required=False)
    comment = forms.CharField(max_length=2000, required=False, strip=True)

    def clean_rating(self) -> int | None:
        value = self.cleaned_data.get("rating")
        return {"up": 1, "down": -1}.get(value) if value else None
