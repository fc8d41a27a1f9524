"""Input of the desk's own pages: the reply box of the ticket page and the chat console, and the
managers' dashboard filters (the window, the breaches). Parsed, never trusted."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import MultipleFileField
from sla.models import Clock
from teams.models import Team


class Window:
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"
    DEFAULT = WEEK
    CHOICES = [(TODAY, _("Today")), (WEEK, _("Last 7 days")), (MONTH, _("Last 30 days"))]

    @classmethod
    def bounds(
        cls, window: str, now: datetime.datetime
    ) -> tuple[datetime.datetime, datetime.datetime]:
        """[since, until) of a window ending now; "today" starts at midnight of the active
        time zone."""
        if window == cls.TODAY:
            since = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        elif window == cls.MONTH:
            since = now - datetime.timedelta(days=30)
        else:
            since = now - datetime.timedelta(days=7)
        return since, now


class DashboardFilterForm(forms.Form):
    window = forms.ChoiceField(label=_("Period"), choices=Window.CHOICES, required=False)
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.order_by("tier", "name"),
        to_field_name="slug",
        required=False,
        empty_label=_("All teams"),
    )
    metric = forms.ChoiceField(
        label=_("Promise"),
        choices=[("", _("All promises")), *Clock.MetricChoices.choices],
        required=False,
    )
    page = forms.IntegerField(min_value=1, required=False)

    def filters(self) -> dict:
        """The valid values, each field that failed replaced by its default."""
        data = getattr(self, "cleaned_data", {})
        return {
            "window": data.get("window") or Window.DEFAULT,
            "team": data.get("team"),
            "metric": data.get("metric") or None,
            "page": data.get("page") or 1,
        }


class ReplyForm(forms.Form):
    PUBLIC = "public"
    INTERNAL = "internal"

    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 6}))
    visibility = forms.ChoiceField(
        label=_("Visibility"),
        choices=[
            (PUBLIC, _("Public reply (the customer sees it and is emailed)")),
            (INTERNAL, _("Internal note (agents only)")),
        ],
        initial=PUBLIC,
        widget=forms.RadioSelect,
    )
    wait_on_customer = forms.BooleanField(
        label=_("Wait on the customer (pauses the clocks)"), required=False
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("visibility") == self.INTERNAL and data.get("wait_on_customer"):
            self.add_error("wait_on_customer", _("Only a public reply can wait on the customer."))
        return data
