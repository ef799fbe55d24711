from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.hashers import make_password
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.conversations.limits import MAX_INSTRUCTIONS_CHARS, MAX_TEMPERATURE
from chat.conversations.snapshots import LIFETIMES
from chat.models import ApiToken, Feedback, ShareLink, UserPreferences
from chat.provider import llm
from chat.streaming.delivery.protocol import VOICE_NAME

if TYPE_CHECKING:  # django-stubs make the form generic in its user model; Django does not
    from chat.errors import Sentence
    from chat.models import User

    _UserCreationForm = BaseUserCreationForm[User]
else:
    _UserCreationForm = BaseUserCreationForm

# Names a stranger must not get, answered like a taken name: so "not available" says
# nothing about whether an account called "root" or "admin" exists.
RESERVED_USERNAMES = {
    "abuse",
    "admin",
    "administrator",
    "hostmaster",
    "postmaster",
    "root",
    "security",
    "staff",
    "superuser",
    "support",
    "system",
    "webmaster",
}
USERNAME_NOT_AVAILABLE = _("This username is not available. Choose another.")


class SignupForm(_UserCreationForm):
    """Username and password, nothing else: the smallest account a chat needs.

    A taken name (in any case) is not a field error, which would say "already exists":
    the form is valid, `create_account()` returns None, and the page says only that the
    name is not available, as it does for a reserved name."""

    username_available = True

    def clean_username(self) -> str:
        username: str = self.cleaned_data.get("username") or ""
        self.username_available = not (
            username.lower() in RESERVED_USERNAMES
            or get_user_model().objects.filter(username__iexact=username).exists()
        )
        return username

    def validate_unique(self) -> None:
        """The name's uniqueness is create_account()'s business (see the class)."""

    def create_account(self) -> User | None:
        """The new user, or None when the name is not available. Either way the password
        is hashed once, so the time taken says nothing either."""
        if self.username_available:
            try:
                with transaction.atomic():
                    return self.save()
            except IntegrityError:  # taken meanwhile, by a sign-up that raced this one
                pass
        make_password(self.cleaned_data.get("password1"))
        return None


class ApiTokenForm(forms.Form):
    """A new personal API token: its name (so that its owner knows what it is for), its
    scope and lifetime; and the password, unless sudo mode is on (`ask_password`)."""

    LIFETIMES = {"7": 7, "30": 30, "90": 90, "365": 365, "never": None}

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        strip=True,
        help_text=_("What it is for, e.g. “laptop script”."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": _("laptop script")}),
    )
    scope = forms.ChoiceField(
        label=_("Access"),
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.FULL,
        widget=forms.RadioSelect,
    )
    expires = forms.ChoiceField(
        label=_("Expires"),
        choices=[
            (key, format_lazy(_("in {days} days"), days=days) if days else _("never"))
            for key, days in LIFETIMES.items()
        ],
        initial="90",
    )
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        help_text=_("Confirm it to create a token; not asked again for a few minutes."),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, data: Any = None, *, ask_password: bool = True) -> None:
        super().__init__(data)
        self.ask_password = ask_password
        if not ask_password:
            del self.fields["password"]

    def lifetime(self) -> timedelta | None:
        days = self.LIFETIMES[self.cleaned_data["expires"]]
        return None if days is None else timedelta(days=days)


# What a JSON body describes, for PartialForm.error_message (responses.valid_form's `what`).
THINGS = {
    "conversation": _("conversation"),
    "preset": _("preset"),
    "preferences": _("preferences"),
    "share link": _("share link"),
    "webhook": _("webhook"),
}


class PartialForm(forms.Form):
    """With `partial=True` only the fields present in the data are validated (a PATCH):
    `cleaned_data` then holds just those."""

    def __init__(self, data: dict[str, Any] | None = None, *, partial: bool = False) -> None:
        super().__init__(data)
        if partial and data is not None:
            for name in [n for n in self.fields if n not in data]:
                del self.fields[name]

    def error_message(self, what: str) -> Sentence:
        """ "The <what> is not valid: model, temperature." — names the fields at fault."""
        return format_lazy(
            _("The {what} is not valid: {fields}."),
            what=THINGS.get(what, what),
            fields=", ".join(self.errors),
        )


class ModelSettingsMixin(forms.Form):
    """How a conversation (or a preset) is answered: which configured model ("": the
    default), the instructions instead of the operator's system prompt ("": theirs),
    and the temperature (null: the model's)."""

    model = forms.CharField(max_length=100, required=False, strip=True)
    instructions = forms.CharField(max_length=MAX_INSTRUCTIONS_CHARS, required=False, strip=True)
    temperature = forms.FloatField(
        required=False, min_value=0.0, max_value=MAX_TEMPERATURE, localize=False
    )

    def clean_model(self) -> str:
        key = self.cleaned_data.get("model") or ""
        if key:
            try:
                llm.resolve_model(key)
            except llm.UnknownModel:
                raise forms.ValidationError(
                    _("Unknown model: choose one of the configured models."),
                    code="invalid_choice",
                ) from None
        return key

    def clean_temperature(self) -> float | None:
        if isinstance(self.data.get("temperature"), bool):  # JSON true is not 1.0
            raise forms.ValidationError(_("Enter a number."), code="invalid")
        return self.cleaned_data.get("temperature")


class ConversationForm(ModelSettingsMixin, PartialForm):
    """Validates the JSON body of a conversation create or update (title and settings)."""

    title = forms.CharField(max_length=200, required=False, strip=True)


class JsonBooleanField(forms.Field):
    """JSON true or false, nothing else (forms.BooleanField would take "no", 0 or null)."""

    default_error_messages = {"invalid": _("Enter true or false.")}

    def to_python(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value


class ConversationUpdateForm(ConversationForm):
    """A PATCH of a conversation: its title and settings, and whether it is pinned or
    archived (services.conversation_marks says how the two go together)."""

    pinned = JsonBooleanField()
    archived = JsonBooleanField()


class ConversationCreateForm(ConversationForm):
    """A new conversation, optionally started from one of the user's presets."""

    preset = forms.IntegerField(required=False, min_value=1)
    temporary = JsonBooleanField()  # not listed nor searched, deleted after CHAT_TEMPORARY_HOURS


class PresetForm(ModelSettingsMixin, PartialForm):
    """Validates the JSON body of a preset create or update."""

    name = forms.CharField(max_length=100, strip=True)


class PreferencesForm(PartialForm):
    """A user's preferences: the settings page's form (all fields), and the JSON body of
    a PATCH of /api/preferences/ (`partial`: those present)."""

    default_instructions = forms.CharField(
        label=_("Default instructions for new chats"),
        max_length=MAX_INSTRUCTIONS_CHARS,
        required=False,
        strip=True,
        help_text=_(
            "Every new chat starts with these as its instructions (you can still change "
            "them in that chat); chats you already have keep theirs."
        ),
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    theme = forms.ChoiceField(
        label=_("Appearance"),
        choices=UserPreferences.Theme.choices,
        initial=UserPreferences.Theme.SYSTEM,
        widget=forms.RadioSelect,
    )

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        partial: bool = False,
        initial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(data, partial=partial)
        self.initial = initial or {}

    speech_voice = forms.CharField(
        label=_("Voice of spoken answers"),
        max_length=40,
        required=False,
        strip=True,
        validators=[
            RegexValidator(
                rf"\A{VOICE_NAME.pattern}\Z",
                _("Letters, digits, '.', '_', '+' or '-', up to 40 characters."),
            )
        ],
        help_text=_(
            "The server's voice when voice mode speaks your answers: an espeak-ng voice "
            "(en-us, en-gb, ja…), a VOICEVOX speaker id (1, 3…) or the speech server's "
            "voice (alloy, nova…), as the operator's engine takes them. Empty: the "
            "server's default."
        ),
    )

    def clean_speech_voice(self) -> str:
        if not isinstance(self.data.get("speech_voice", ""), str):  # JSON: not text
            raise forms.ValidationError(_("Enter text."), code="invalid")
        return str(self.cleaned_data.get("speech_voice") or "")

    def clean_default_instructions(self) -> str:
        if not isinstance(self.data.get("default_instructions", ""), str):  # JSON: not text
            raise forms.ValidationError(_("Enter text."), code="invalid")
        return str(self.cleaned_data.get("default_instructions") or "")


class FeedbackForm(forms.Form):
    """Validates the JSON body of a thumbs up/down: rating up, down or null (withdraw)."""

    rating = forms.ChoiceField(choices=[("up", "up"), ("down", "down")], required=False)
    comment = forms.CharField(max_length=2000, required=False, strip=True)

    def clean_rating(self) -> Feedback.Rating | None:
        value = self.cleaned_data.get("rating")
        return (
            {"up": Feedback.Rating.UP, "down": Feedback.Rating.DOWN}.get(value) if value else None
        )


class DeleteAccountForm(forms.Form):
    """Deleting the account: the password again, and a box ticked that says what goes."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account and all my conversations are deleted for good."),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class ShareForm(PartialForm):
    """A new share link: what it holds (`scope`: the branch shown, or the whole tree)
    and how long it lives (`expires`: 1d, 7d, 30d or never). Both optional: the
    branch, for 30 days."""

    scope = forms.ChoiceField(choices=ShareLink.Scope.choices, required=False)
    expires = forms.ChoiceField(choices=[(key, key) for key in LIFETIMES], required=False)

    def clean_scope(self) -> str:
        return str(self.cleaned_data.get("scope") or ShareLink.Scope.BRANCH)

    def clean_expires(self) -> timedelta | None:
        return LIFETIMES[self.cleaned_data.get("expires") or "30d"]
