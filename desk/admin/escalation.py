"""Escalation in the desk: the routing rules and the overflow policy (managers and admins edit
them, agents read them), the management queue of approval requests (managers decide through
`usecases.escalation.approval_decide`), and the read-only history of escalations,
consultations and overflow periods."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.roles import oversees_everything
from core.errors import ServiceError
from core.formats import duration_text
from desk.admin.common import VisibleTicketsMixin
from desk.forms import DecisionForm
from escalation.models import (
    ApprovalKind,
    ApprovalRequest,
    Consultation,
    Escalation,
    OverflowPeriod,
    OverflowPolicy,
    RoutingRule,
)
from escalation.routing import FIRST_LINE_TEAM
from escalation.selectors import first_line_load
from teams.models import Team
from tickets.models import Category
from tickets.selectors import tickets_visible_to
from usecases.escalation import approval_decide, approval_withdraw


def subject_of(approval: ApprovalRequest) -> str:
    """What an approval without a ticket is about: an incident's credit."""
    return gettext("Credit for the incident “%(title)s”") % {
        "title": approval.incident_credit.incident.title
    }


def person(user) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


# --- Routing rules ------------------------------------------------------------------------


def site_choices(*, keep=()) -> list[tuple[str, str]]:
    """The sites of the data-center teams, and any other a rule already names (kept, so that
    saving it does not drop what an admin cannot see in the list)."""
    known = list(
        Team.objects.filter(kind=Team.Kind.DATACENTER)
        .exclude(site="")
        .order_by("site")
        .values_list("site", flat=True)
        .distinct()
    )
    others = sorted(set(keep) - set(known))
    return [(site, site.upper()) for site in (*known, *others)]


class RoutingRuleForm(forms.ModelForm):
    """The model's constraints, checked here with messages that say what to change."""

    categories = forms.MultipleChoiceField(
        label=_("categories"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=RoutingRule._meta.get_field("categories").help_text,
    )
    sites = forms.MultipleChoiceField(
        label=_("data-center sites"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=RoutingRule._meta.get_field("sites").help_text,
    )

    class Meta:
        model = RoutingRule
        fields = (
            "position",
            "name",
            "active",
            "categories",
            "words",
            "sites",
            "target",
            "team",
            "approval_kind",
            "reason",
            "route_directly",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admin builds the form without the fields a reader may not edit.
        if "sites" in self.fields:
            self.fields["sites"].choices = site_choices(keep=self.instance.sites or ())
        if "team" in self.fields:
            # A team of the tiers; one no longer active stays offered to the rule naming it.
            self.fields["team"].queryset = Team.objects.filter(
                Q(active=True, tier__isnull=False) | Q(pk=self.instance.team_id)
            ).order_by("tier", "name")

    def clean_words(self) -> str:
        lines = (line.strip() for line in self.cleaned_data["words"].splitlines())
        return "\n".join(line for line in lines if line)

    def clean(self):
        cleaned = super().clean()
        target, team = cleaned.get("target"), cleaned.get("team")
        kind = cleaned.get("approval_kind")
        if target == RoutingRule.Target.TEAM:
            if team is None:
                self.add_error("team", _("Choose the team this rule sends requests to."))
            elif team.slug == FIRST_LINE_TEAM:
                self.add_error(
                    "team",
                    _("The first line reads every new request already: choose a specialist team."),
                )
        elif target == RoutingRule.Target.SITE_DATACENTER and team is not None:
            self.add_error(
                "team",
                _("Leave the team empty: the data-center team of the server's site takes it."),
            )
        elif target == RoutingRule.Target.APPROVAL and team is not None:
            self.add_error("team", _("Leave the team empty: management decides an approval."))
        if target == RoutingRule.Target.APPROVAL and not kind:
            self.add_error("approval_kind", _("Choose what management is asked to approve."))
        elif target and target != RoutingRule.Target.APPROVAL and kind:
            self.add_error(
                "approval_kind",
                _("Only a rule that asks management for approval names what to approve."),
            )
        return cleaned


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Managers and admins (model permissions of the `managers` group) edit the rules; agents
    read them. The first active rule that matches a request decides (position, then id)."""

    form = RoutingRuleForm
    list_display = (
        "position",
        "name",
        "active",
        "conditions",
        "goes_to",
        "reason",
        "route_directly",
        "changed_by",
        "changed_at",
    )
    list_display_links = ("name",)
    list_editable = ("position",)
    list_filter = ("active", "target", "route_directly")
    list_select_related = ("team", "changed_by")
    search_fields = ("name", "words")
    ordering = ("position", "id")
    readonly_fields = ("changed_by", "changed_at")
    fieldsets = (
        (None, {"fields": ("position", "name", "active")}),
        (
            _("Which requests"),
            {
                "description": _("A request matches when it meets every condition given."),
                "fields": ("categories", "words", "sites"),
            },
        ),
        (
            _("Where they go"),
            {"fields": ("target", "team", "approval_kind", "reason", "route_directly")},
        ),
        (_("Changed"), {"fields": ("changed_by", "changed_at")}),
    )

    @admin.display(description=_("conditions"))
    def conditions(self, rule: RoutingRule) -> str:
        labels = dict(Category.choices)
        parts = []
        if rule.categories:
            parts.append(", ".join(str(labels.get(c, c)) for c in rule.categories))
        if rule.word_list:
            parts.append(gettext("words: %(words)s") % {"words": ", ".join(rule.word_list)})
        if rule.sites:
            parts.append(gettext("sites: %(sites)s") % {"sites": ", ".join(rule.sites).upper()})
        return "; ".join(parts) or gettext("every request")

    @admin.display(description=_("goes to"), ordering="target")
    def goes_to(self, rule: RoutingRule) -> str:
        if rule.target == RoutingRule.Target.TEAM:
            return rule.team.name if rule.team else "—"
        if rule.target == RoutingRule.Target.APPROVAL:
            return gettext("Management approval (%(kind)s)") % {
                "kind": ApprovalKind(rule.approval_kind).label if rule.approval_kind else "—"
            }
        return str(rule.get_target_display())

    def save_model(self, request, obj, form, change):
        obj.changed_by, obj.changed_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


# --- The overflow of the first line -------------------------------------------------------


class OverflowPolicyForm(forms.ModelForm):
    EDITABLE = (
        "enabled",
        "start_unanswered",
        "start_wait_seconds",
        "stop_unanswered",
        "stop_wait_seconds",
    )

    class Meta:
        model = OverflowPolicy
        fields = (
            "enabled",
            "start_unanswered",
            "start_wait_seconds",
            "stop_unanswered",
            "stop_wait_seconds",
        )

    def clean(self):
        cleaned = super().clean()
        for stop, start, message in (
            (
                "stop_unanswered",
                "start_unanswered",
                _("The overflow stops below where it starts: fewer than %(start)d requests."),
            ),
            (
                "stop_wait_seconds",
                "start_wait_seconds",
                _("The overflow stops below where it starts: less than %(start)d seconds."),
            ),
        ):
            if (
                cleaned.get(stop) is not None
                and cleaned.get(start) is not None
                and cleaned[stop] >= cleaned[start]
            ):
                self.add_error(stop, message % {"start": cleaned[start]})
        return cleaned


@admin.register(OverflowPolicy)
class OverflowPolicyAdmin(admin.ModelAdmin):
    """One row: managers and admins edit its thresholds, agents read them. The sweep sets when
    the overflow started; a save here never writes that column."""

    form = OverflowPolicyForm
    readonly_fields = ("state", "first_line_now", "changed_by", "changed_at")

    def get_fieldsets(self, request, obj=None):
        return (
            (None, {"fields": ("state", "first_line_now")}),
            (
                _("Thresholds"),
                {
                    "description": _(
                        "At high load, new requests that a routing rule marks as specialist "
                        "work go straight to that team while it is at work. The overflow starts "
                        "when either start threshold is reached and stops when both are back "
                        "at their stop thresholds, which are lower: a queue around one number "
                        "does not switch it on and off."
                    ),
                    "fields": OverflowPolicyForm.EDITABLE,
                },
            ),
            (_("Changed"), {"fields": ("changed_by", "changed_at")}),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        # The one row, with its defaults until someone edits them (the sweep creates it too).
        policy, _created = OverflowPolicy.objects.get_or_create(pk=1)
        return HttpResponseRedirect(
            reverse("admin:escalation_overflowpolicy_change", args=[policy.pk])
        )

    @admin.display(description=_("now"))
    def state(self, policy: OverflowPolicy) -> str:
        if policy.active_since is not None:
            return gettext(
                "Overflowing since %(since)s: new specialist requests go to the teams at work."
            ) % {"since": timezone.localtime(policy.active_since).strftime("%Y-%m-%d %H:%M %Z")}
        if not policy.enabled:
            return gettext("Switched off: every new request starts with the first line.")
        return gettext("Not overflowing: every new request starts with the first line.")

    @admin.display(description=_("first line now"))
    def first_line_now(self, policy: OverflowPolicy) -> str:
        load = first_line_load(now=timezone.now())
        if not load.unanswered:
            return gettext("No request waits for a first reply.")
        return gettext("%(count)d waiting for a first reply, the oldest for %(wait)s.") % {
            "count": load.unanswered,
            "wait": duration_text(load.oldest_wait_seconds),
        }

    def save_model(self, request, obj, form, change):
        obj.changed_by, obj.changed_at = request.user, timezone.now()
        # Only what this page edits: the sweep may have started or ended an overflow since
        # the row was read.
        obj.save(update_fields=[*OverflowPolicyForm.EDITABLE, "changed_by", "changed_at"])

    def response_change(self, request, obj):
        self.message_user(request, gettext("The overflow policy is saved."), messages.SUCCESS)
        return HttpResponseRedirect(request.path)


@admin.register(OverflowPeriod)
class OverflowPeriodAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "ended_at",
        "lasted",
        "peak_unanswered",
        "peak_wait",
        "routed",
    )
    date_hierarchy = "started_at"
    fields = readonly_fields = (
        "started_at",
        "ended_at",
        "peak_unanswered",
        "peak_wait_seconds",
        "routed",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("lasted"))
    def lasted(self, period: OverflowPeriod) -> str:
        if period.ended_at is None:
            return gettext("still on")
        return duration_text((period.ended_at - period.started_at).total_seconds())

    @admin.display(description=_("longest wait"), ordering="peak_wait_seconds")
    def peak_wait(self, period: OverflowPeriod) -> str:
        return duration_text(period.peak_wait_seconds)


# --- History: escalations and consultations ------------------------------------------------


@admin.register(Escalation)
class EscalationAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ("at", "ticket", "from_team", "to_team", "kind", "by_whom", "reason")
    list_filter = ("kind", "to_team", "from_team")
    list_select_related = ("ticket", "from_team", "to_team", "by", "rule")
    search_fields = ("ticket__reference",)
    date_hierarchy = "at"
    fields = readonly_fields = (
        "ticket",
        "from_team",
        "to_team",
        "kind",
        "reason",
        "by_whom",
        "at",
    )

    # "by" alone is also "by a date" in the catalog.
    @admin.display(description=_("by whom"))
    def by_whom(self, escalation: Escalation) -> str:
        if escalation.by_id:
            return person(escalation.by)
        if escalation.rule_id:
            return gettext("rule “%(rule)s”") % {"rule": escalation.rule.name}
        return "—"


@admin.register(Consultation)
class ConsultationAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ("asked_at", "ticket", "team", "state", "asked_by", "answered_by", "answered_at")
    list_filter = ("state", "team")
    list_select_related = ("ticket", "team", "asked_by", "answered_by")
    search_fields = ("ticket__reference",)
    date_hierarchy = "asked_at"
    fields = readonly_fields = (
        "ticket",
        "team",
        "note",
        "state",
        "asked_by",
        "asked_at",
        "answer",
        "answered_by",
        "answered_at",
    )


# --- The management queue ------------------------------------------------------------------


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    """Pending requests first, the oldest on top; then those decided, the latest first.
    Managers and admins see every one and decide on its page; agents see those of the tickets
    they see. A decision is a use case; nothing here edits a row."""

    list_display = (
        "request",
        "kind",
        "amount_display",
        "requested_by",
        "requested_at",
        "state_display",
        "decided_by",
        "decided_at",
    )
    list_display_links = ("request",)
    list_filter = ("state", "kind")
    list_select_related = (
        "ticket",
        "ticket__team",
        "requested_by",
        "decided_by",
        "incident_credit__incident",
    )
    search_fields = ("ticket__reference", "incident_credit__incident__title")

    def get_queryset(self, request):
        every_request = super(VisibleTicketsMixin, self).get_queryset(request)
        if oversees_everything(request.user):
            # Every request: no semi-join over every ticket to say so.
            return every_request
        # An incident's credit (no ticket) is the staff's to see, as incidents are.
        return every_request.filter(
            Q(ticket__in=tickets_visible_to(request.user).values("pk")) | Q(ticket__isnull=True)
        )

    def get_ordering(self, request):
        pending = Q(state=ApprovalRequest.State.PENDING)
        return [
            Case(When(pending, then=Value(0)), default=Value(1)).asc(),
            Case(When(pending, then=F("requested_at"))).asc(),
            F("decided_at").desc(nulls_last=True),
            "-id",
        ]

    def changelist_view(self, request, extra_context=None):
        title = (
            gettext("Management queue: approval requests")
            if oversees_everything(request.user)
            else gettext("Approval requests of your tickets")
        )
        return super().changelist_view(
            request, extra_context={"title": title, **(extra_context or {})}
        )

    @admin.display(description=_("request"), ordering="ticket__reference")
    def request(self, approval: ApprovalRequest) -> str:
        if approval.ticket is None:
            return subject_of(approval)
        return f"{approval.ticket.reference} {approval.ticket.subject}"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, approval: ApprovalRequest) -> str:
        if approval.amount is None:
            return "—"
        return f"{approval.amount} {approval.currency}"

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, approval: ApprovalRequest) -> str:
        if approval.state != ApprovalRequest.State.PENDING:
            return approval.get_state_display()
        waited = (timezone.now() - approval.requested_at).total_seconds()
        return format_html(
            '<span class="hd-mark hd-mark--approval">{}</span>',
            gettext("Pending for %(duration)s") % {"duration": duration_text(waited)},
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The request and its decision: managers who did not ask approve or reject it, with
        a note the customer reads; who asked (or a manager) may withdraw it. Refused, the page
        again with the reason and its 4xx status."""
        approval = self.get_object(request, object_id)
        if approval is None:
            raise Http404("No such approval request.")
        form = DecisionForm()
        status = 200
        if request.method == "POST":
            form = DecisionForm(request.POST)
            status = 400
            if form.is_valid():
                try:
                    done = self._decide(request, approval, form.cleaned_data)
                except ServiceError as exc:
                    form.add_error(None, exc.detail)
                    status = exc.status
                else:
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:escalation_approvalrequest_changelist")
                    )
        response = self._decision_page(request, approval, form)
        response.status_code = status
        return response

    def get_object(self, request, object_id, from_field=None):
        """The request if the user may see its ticket; None for any other id, however
        written (a number beyond any row included)."""
        object_id = str(object_id)
        if not (object_id.isascii() and object_id.isdigit() and len(object_id) <= 18):
            return None
        return (
            self.get_queryset(request)
            .select_related(
                "ticket__team",
                "ticket__customer",
                "requested_by",
                "decided_by",
                "incident_credit__incident",
            )
            .filter(pk=int(object_id))
            .first()
        )

    @staticmethod
    def _decide(request, approval, data) -> str:
        now = timezone.now()
        reference = approval.ticket.reference if approval.ticket else subject_of(approval)
        if data["decision"] == DecisionForm.WITHDRAW:
            approval_withdraw(approval_id=approval.pk, actor=request.user, now=now)
            return gettext("%(reference)s: the request is withdrawn.") % {"reference": reference}
        decided = approval_decide(
            approval_id=approval.pk,
            actor=request.user,
            decision=data["decision"],
            note=data["note"],
            now=now,
        )
        if approval.ticket is None:
            if decided.state == ApprovalRequest.State.APPROVED:
                done = gettext("%(reference)s: approved; each customer is told in their ticket.")
            else:
                done = gettext("%(reference)s: rejected; each customer is told in their ticket.")
        elif decided.state == ApprovalRequest.State.APPROVED:
            done = gettext("%(reference)s: approved; the customer has been told.")
        else:
            done = gettext("%(reference)s: rejected; the customer has been told.")
        return done % {"reference": reference}

    def _decision_page(self, request, approval, form):
        user = request.user
        pending = approval.state == ApprovalRequest.State.PENDING
        mine = approval.requested_by_id == user.pk
        why_not = ""
        if pending and not oversees_everything(user):
            why_not = gettext("Only managers decide approvals.")
        elif pending and mine:
            why_not = gettext(
                "You asked for this approval: another manager decides it, never the one who asked."
            )
        credit = lines = None
        if approval.ticket is None:
            credit = approval.incident_credit
            lines = credit.lines.aggregate(count=Count("pk"), total=Sum("amount"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Approval request for %(reference)s")
            % {"reference": approval.ticket.reference if approval.ticket else subject_of(approval)},
            "subtitle": None,
            "approval": approval,
            "original": approval,
            "ticket": approval.ticket,
            "credit": credit,
            "lines": lines,
            "pending": pending,
            "can_decide": pending and not why_not,
            "can_withdraw": pending and (mine or oversees_everything(user)),
            "why_not": why_not,
            "form": form,
            "has_view_permission": True,
        }
        return TemplateResponse(
            request, "admin/escalation/approvalrequest/change_form.html", context
        )
