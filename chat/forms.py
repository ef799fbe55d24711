from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password, nothing else: the smallest account a chat needs."""


class ConversationForm(forms.Form):
    """Validates the JSON body of a conversation create or rename."""

    title = forms.CharField(max_length=200, required=False, strip=True)
