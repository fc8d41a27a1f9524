"""Input validation of the account pages. Forms only validate; the views call the services."""

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, SetPasswordMixin, UsernameField
from django.utils import translation
from django.utils.translation import gettext_lazy as _

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
        "email_taken": _(
            "An account with this email address already exists. "
            "Log in, or reset your password if you forgot it."
        ),
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
        email = User._default_manager.normalize_email(self.cleaned_data["email"])
        if User._default_manager.filter(email__iexact=email).exists():
            raise forms.ValidationError(self.error_messages["email_taken"], code="email_taken")
        return email

    def clean(self):
        cleaned = super().clean()
        self.validate_passwords()
        # The similarity validator compares the password with the username and email.
        candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
        self.validate_password_for_user(candidate)
        return cleaned


class LocalizedPasswordResetForm(PasswordResetForm):
    """Writes the reset email in the account's language and links to SITE_URL.

    The link is built from SITE_URL, not from the request's Host header, so a forged Host
    cannot put a foreign address into a genuine email.
    """

    def save(self, **kwargs):
        site = urlsplit(settings.SITE_URL)
        kwargs["domain_override"] = site.netloc
        kwargs["use_https"] = site.scheme == "https"
        return super().save(**kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        profile = getattr(context["user"], "customer_profile", None)
        language = profile.language if profile else translation.get_language()
        with translation.override(language):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
