"""Input validation of the account pages. Forms only validate; the views call the services."""

import unicodedata
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, SetPasswordMixin, UsernameField
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerProfile
from accounts.selectors import owns_address, timezone_names

User = get_user_model()


class SignupForm(SetPasswordMixin, forms.Form):
    username = UsernameField(
        label=_("Username"),
        max_length=User._meta.get_field("username").max_length,
        validators=list(User._meta.get_field("username").validators),
        help_text=_("Letters, digits and @ . + - _ only. You will use it to log in."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=User._meta.get_field("email").max_length,
        help_text=_("We write to this address about your tickets."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1, password2 = SetPasswordMixin.create_password_fields()
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("The language of our pages and of our messages to you."),
    )

    error_messages = {
        **SetPasswordMixin.error_messages,
        "username_taken": _("This username is already taken. Please choose another one."),
    }

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        # Case-insensitive, so that "Mario" cannot pass for an existing "mario".
        if User._default_manager.filter(username__iexact=username).exists():
            raise forms.ValidationError(
                self.error_messages["username_taken"], code="username_taken"
            )
        return username

    def clean_email(self) -> str:
        # An address that has an account is no error here: the page would tell anyone who is a
        # customer. The address itself is told (accounts.services.signup_request).
        return User._default_manager.normalize_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        self.validate_passwords()
        # The similarity validator compares the password with the username and email.
        candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
        self.validate_password_for_user(candidate)
        return cleaned


def _casefolded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class LocalizedPasswordResetForm(PasswordResetForm):
    """Writes the reset email in the account's language and links to SITE_URL.

    The link is built from SITE_URL, not from the request's Host header, so a forged Host
    cannot put a foreign address into a genuine email.
    """

    def get_users(self, email):
        """Django's choice (active, with a usable password), and active customers who own their
        address without a password yet: those made from their first email set one this way."""
        users = User._default_manager.select_related("customer_profile").filter(
            email__iexact=email, is_active=True
        )
        return (
            user
            for user in users
            if (user.has_usable_password() or owns_address(user))
            # Django's guard: the database's case-insensitive match is not Unicode's.
            and _casefolded(email) == _casefolded(user.email)
        )

    def save(self, **kwargs):
        site = urlsplit(settings.SITE_URL)
        kwargs["domain_override"] = site.netloc
        kwargs["use_https"] = site.scheme == "https"
        kwargs["extra_email_context"] = {"support_email": settings.SUPPORT_EMAIL}
        return super().save(**kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        profile = getattr(context["user"], "customer_profile", None)
        language = profile.language if profile else translation.get_language()
        with translation.override(language):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class PreferencesForm(forms.Form):
    """What staff set on their profile page: how we write to them, and in which time zone."""

    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("The language of our pages and of our messages to you."),
    )
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("We write dates and times to you in this zone."),
    )

    def __init__(self, *args, current_timezone: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        names = timezone_names()
        # A zone set before this list existed (an alias such as "CET") stays choosable.
        if current_timezone and current_timezone not in names:
            names = (current_timezone, *names)
        self.fields["timezone"].choices = [(name, name.replace("_", " ")) for name in names]


class ProfileForm(PreferencesForm):
    """A customer's profile: name, address, language, time zone, company."""

    first_name = forms.CharField(
        label=_("First name"),
        max_length=User._meta.get_field("first_name").max_length,
        required=False,
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=User._meta.get_field("last_name").max_length,
        required=False,
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=User._meta.get_field("email").max_length,
        help_text=_(
            "To change it, we send a link to the new address; it changes when you follow it."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    company = forms.CharField(
        label=_("Company"),
        max_length=CustomerProfile._meta.get_field("company").max_length,
        required=False,
    )

    field_order = ["first_name", "last_name", "email", "language", "timezone", "company"]

    def clean_email(self) -> str:
        return User._default_manager.normalize_email(self.cleaned_data["email"])
