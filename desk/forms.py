"""Input of the desk's own pages: the reply box of the ticket page and the chat console, the
escalation forms of the ticket page and the management queue, and the managers' dashboard
filters (the window, the breaches). Parsed, never trusted: the use cases decide."""

import datetime

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import MultipleFileField
from escalation.models import ApprovalKind
from sla.models import Clock
from teams.models import Team
from usecases.escalation import ESTIMATE_MAX_SECONDS


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


class TeamForm(forms.Form):
    """A form that names a team of the tiers, offered from `teams` (the caller's query)."""

    team = forms.ChoiceField(label=_("Team"))

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [
            ("", "---------"),
            *(
                (team.slug, _("%(team)s (tier %(tier)d)") % {"team": team.name, "tier": team.tier})
                for team in teams
            ),
        ]


class EscalateForm(TeamForm):
    reason = forms.CharField(
        label=_("Why this team"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The customer reads it in the notice: write it in plain words."),
    )


class ConsultForm(TeamForm):
    note = forms.CharField(
        label=_("Question"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Only staff read it. The team sees the ticket and answers with an internal note; "
            "the ticket and its clocks stay with its team."
        ),
    )


class EstimateForm(forms.Form):
    hours = forms.IntegerField(
        label=_("Hours"), min_value=0, max_value=ESTIMATE_MAX_SECONDS // 3600, required=False
    )
    minutes = forms.IntegerField(label=_("Minutes"), min_value=0, max_value=59, required=False)
    note = forms.CharField(
        label=_("Note to the customer"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Told with the estimate, for example what the work involves."),
    )

    def clean(self):
        data = super().clean()
        if "hours" in data and "minutes" in data:
            data["seconds"] = (data["hours"] or 0) * 3600 + (data["minutes"] or 0) * 60
            if data["seconds"] < 60:
                raise forms.ValidationError(_("An estimate is at least one minute."))
            if data["seconds"] > ESTIMATE_MAX_SECONDS:
                raise forms.ValidationError(
                    _("An estimate is at most %(days)d days.")
                    % {"days": ESTIMATE_MAX_SECONDS // 86400}
                )
        return data


class ApprovalRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Approval of"), choices=ApprovalKind.choices, initial=ApprovalKind.BILLING_CREDIT
    )
    # Asked for credits only (static/admin_helpdesk/desk.js hides them for other kinds).
    amount = forms.DecimalField(
        label=_("Amount"), required=False, max_digits=12, decimal_places=2, localize=True
    )
    currency = forms.CharField(
        label=_("Currency"), max_length=3, required=False, initial=settings.APPROVAL_CURRENCY
    )
    reason = forms.CharField(
        label=_("Why management should approve it"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Managers read it. The customer is told that we asked, and the ticket waits on the "
            "decision with its clocks paused."
        ),
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") != ApprovalKind.BILLING_CREDIT:
            data["amount"], data["currency"] = None, ""
        return data


class DecisionForm(forms.Form):
    """The management queue: approve, reject, or (who asked) withdraw a request."""

    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"

    decision = forms.ChoiceField(
        choices=[(APPROVE, _("Approve")), (REJECT, _("Reject")), (WITHDRAW, _("Withdraw"))]
    )
    note = forms.CharField(
        label=_("Note to the customer"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Read in the thread with the decision."),
    )
