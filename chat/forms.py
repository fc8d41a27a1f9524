"""Input of the customer's start-a-chat page. The form parses; chat.services decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tickets.models import Ticket


class ChatStartForm(forms.Form):
    subject = forms.CharField(
        label=_("Subject"),
        required=False,
        max_length=Ticket._meta.get_field("subject").max_length,
        help_text=_("Optional: a few words, for example: My VPS does not answer."),
    )
    body = forms.CharField(
        label=_("Your message"),
        max_length=20000,
        help_text=_("What happens, and on which server or service."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
