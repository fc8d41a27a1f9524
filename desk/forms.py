"""Input of the desk's own pages: the reply box of the ticket page and the chat console, the
escalation forms of the ticket page and the management queue, and the managers' dashboard
filters (the window, the breaches). Parsed, never trusted: the use cases decide."""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import MultipleFileField
from escalation.models import ApprovalKind
from incidents.models import Credit
from incidents.models import Status as IncidentStatus
from sla.models import Clock
from teams.models import Team
from tickets.models import Category
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


# --- Incidents ------------------------------------------------------------------------------


class IncidentForm(forms.Form):
    """What an incident covers and how it reads on the status page; opened from a surge, the
    surge's id rides along so that the incident answers it."""

    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Public description"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("On the status page and in every linked thread: write it for customers."),
    )
    data_center = forms.ChoiceField(label=_("Data-center site"), required=False)
    service = forms.CharField(
        label=_("Service"),
        max_length=100,
        required=False,
        help_text=_("What is affected, in words, e.g. “VPS storage” or “e-mail”."),
    )
    categories = forms.MultipleChoiceField(
        label=_("Categories of new requests it covers"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "While it is open, a new request of these categories (at its site, when it has one) "
            "is linked on arrival and told the problem is known. None: every new request of "
            "its site."
        ),
    )
    surge = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["data_center"].choices = [("", _("None (a platform, a service)")), *sites]


class IncidentEditForm(IncidentForm):
    lead = forms.TypedChoiceField(label=_("Lead"), coerce=int)

    def __init__(self, *args, leads=(), **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["surge"]
        self.fields["lead"].choices = [
            (person.pk, person.get_full_name() or person.get_username()) for person in leads
        ]


class IncidentUpdateForm(forms.Form):
    body = forms.CharField(
        label=_("Public update"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Posted as written on the status page and into every linked thread, where it is the "
            "ticket's status update. “Resolved” resolves every linked ticket with it."
        ),
    )
    status = forms.ChoiceField(label=_("Status"), choices=IncidentStatus.choices)
    reopen = forms.BooleanField(
        label=_("Reopen the incident (it is resolved)"),
        required=False,
        help_text=_("Without it, a resolved incident keeps its status."),
    )

    def __init__(self, *args, resolved=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not resolved:
            del self.fields["reopen"]


class IncidentNoteForm(forms.Form):
    body = forms.CharField(
        label=_("Internal note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only staff read it."),
    )


# One customer a line: their email address (or username) and their monthly fee.
FEE_LINE = re.compile(r"^\s*(\S+?)[\s=:;,]+(\S+)\s*$")


class CreditForm(forms.Form):
    """One credit for every linked customer. A share of the monthly fee asks each customer's
    fee: one fee for all, and a line for each customer who pays another."""

    rule = forms.ChoiceField(
        label=_("Rule"),
        choices=Credit.Rule.choices,
        widget=forms.RadioSelect,
        initial=Credit.Rule.FIXED,
    )
    amount = forms.DecimalField(
        label=_("Amount per customer"),
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=True,
    )
    share_percent = forms.DecimalField(
        label=_("Share of the monthly fee (%)"),
        required=False,
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        localize=True,
    )
    fee = forms.DecimalField(
        label=_("Monthly fee, for every customer"),
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=True,
    )
    other_fees = forms.CharField(
        label=_("Other fees"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One customer a line, who pays another fee: email address and fee, "
            "e.g. “anna@example.com 49.90”."
        ),
    )
    currency = forms.CharField(
        label=_("Currency"), max_length=3, initial=settings.APPROVAL_CURRENCY
    )
    reason = forms.CharField(
        label=_("Why management should approve it"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, customers=(), **kwargs):
        """`customers`: the linked customers, as (id, email, username)."""
        super().__init__(*args, **kwargs)
        self.customers = list(customers)

    def clean(self):
        data = super().clean()
        rule = data.get("rule")
        if rule == Credit.Rule.FIXED:
            if data.get("amount") is None and "amount" not in self.errors:
                self.add_error("amount", _("Give the amount each customer is credited."))
            data["share_percent"], data["fees"] = None, None
        elif rule == Credit.Rule.SHARE:
            if data.get("share_percent") is None and "share_percent" not in self.errors:
                self.add_error("share_percent", _("Give the share of the monthly fee."))
            data["amount"] = None
            data["fees"] = self._fees(data)
        return data

    def _fees(self, data) -> dict[int, Decimal] | None:
        """Each linked customer's fee: their own line, else the fee for all."""
        by_name = {}
        for customer_id, email, username in self.customers:
            by_name[username.casefold()] = customer_id
            if email:
                by_name[email.casefold()] = customer_id
        own = {}
        for line in (data.get("other_fees") or "").splitlines():
            if not line.strip():
                continue
            match = FEE_LINE.match(line)
            customer_id = by_name.get(match.group(1).casefold()) if match else None
            if customer_id is None:
                self.add_error(
                    "other_fees",
                    _("Not a linked customer and a fee: “%(line)s”.") % {"line": line.strip()},
                )
                continue
            try:
                fee = Decimal(match.group(2).replace(",", "."))
            except InvalidOperation:
                fee = None
            if fee is None or not fee.is_finite() or fee <= 0:
                self.add_error("other_fees", _("Not a fee: “%(line)s”.") % {"line": line.strip()})
                continue
            own[customer_id] = fee
        default = data.get("fee")
        missing = [
            email or username
            for customer_id, email, username in self.customers
            if customer_id not in own and default is None
        ]
        if missing and "fee" not in self.errors:
            self.add_error(
                "fee",
                _("No fee for %(customers)s: give a fee for every customer, or their own line.")
                % {"customers": ", ".join(missing[:5]) + ("…" if len(missing) > 5 else "")},
            )
        if self.errors:
            return None
        return {customer_id: own.get(customer_id, default) for customer_id, *_n in self.customers}


class LinkToIncidentForm(forms.Form):
    incident = forms.TypedChoiceField(label=_("Incident"), coerce=int)

    def __init__(self, *args, incidents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incident"].choices = [
            ("", "---------"),
            *((incident.pk, str(incident)) for incident in incidents),
        ]
