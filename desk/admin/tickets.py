"""The agents' queue and the ticket page: the Django admin as the staff's desk.

Every page asks `tickets.selectors` who may see what, and every write is a use case
(`usecases.tickets`, `usecases.escalation`); the admin only parses, checks the role and renders.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Exists, F, OuterRef
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError
from core.formats import duration_text
from core.throttle import throttled
from core.urls import message_id_param
from desk.admin.common import deadline_badge, is_staff_request
from desk.admin.filters import (
    AssignedFilter,
    ConsultationFilter,
    IncidentFilter,
    QueueChangeList,
    QueueFilter,
    SlaFilter,
)
from desk.forms import (
    ApprovalRequestForm,
    ConsultForm,
    EscalateForm,
    EstimateForm,
    LinkToIncidentForm,
    ReplyForm,
)
from escalation.models import ApprovalKind, ApprovalRequest, Consultation, Reason
from escalation.selectors import consultations_of, escalations_of
from incidents.models import IncidentLink
from incidents.selectors import incidents_open
from sla.policy import Metric
from sla.services.clocks import clock_due_next
from teams.models import Team, TeamMembership
from tickets.downloads import attachment_response
from tickets.models import Channel, Message, Status, Ticket
from tickets.selectors import (
    access_attachment,
    access_ticket,
    thread_page,
    tickets_visible_to,
)
from usecases.escalation import (
    approval_request,
    suggestion_for,
    ticket_consult,
    ticket_escalate,
    ticket_estimate,
)
from usecases.incidents import tickets_link
from usecases.tickets import ticket_assign, ticket_reply, ticket_resolve, ticket_take

OTHER_TICKETS_LIMIT = 10


def signed_in_account(request) -> dict[str, str]:
    return {"account": str(request.user.pk)}


def escalation_teams():
    """The teams a ticket may be passed to or consulted: active, of the tiers (management
    decides approvals instead), first line first."""
    return Team.objects.filter(active=True, tier__isnull=False).order_by("tier", "name")


@dataclass(frozen=True)
class TicketAction:
    """A form of the ticket page: its own URL, form, use case and message once done."""

    form: type[forms.Form]
    run: Callable
    title: str
    submit: str
    done: str


def _escalate(request, ticket, data, now):
    ticket_escalate(
        ticket_id=ticket.pk, actor=request.user, team=data["team"], reason=data["reason"], now=now
    )


def _consult(request, ticket, data, now):
    ticket_consult(
        ticket_id=ticket.pk, actor=request.user, team=data["team"], note=data["note"], now=now
    )


def _estimate(request, ticket, data, now):
    ticket_estimate(
        ticket_id=ticket.pk, actor=request.user, seconds=data["seconds"], note=data["note"], now=now
    )


def _ask_approval(request, ticket, data, now):
    approval_request(
        ticket_id=ticket.pk,
        actor=request.user,
        kind=data["kind"],
        reason=data["reason"],
        amount=data["amount"],
        currency=data["currency"],
        now=now,
    )


TICKET_ACTIONS = {
    "escalate": TicketAction(
        EscalateForm,
        _escalate,
        _("Escalate to another team"),
        _("Escalate"),
        _("%(reference)s is passed to %(team)s; the customer has been told which team and why."),
    ),
    "consult": TicketAction(
        ConsultForm,
        _consult,
        _("Consult a team (the ticket stays here)"),
        _("Ask"),
        _("%(team)s has been asked; they see the ticket and answer with an internal note."),
    ),
    "estimate": TicketAction(
        EstimateForm,
        _estimate,
        _("Give an estimate (non-standard request)"),
        _("Set the estimate"),
        _("Estimate set: it is the resolution target, and the customer has been told."),
    ),
    "approval": TicketAction(
        ApprovalRequestForm,
        _ask_approval,
        _("Ask management for approval"),
        _("Ask for approval"),
        _("Management has been asked; the ticket waits on their decision with its clocks paused."),
    ),
}


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "subject",
        "customer_display",
        "team",
        "assignee",
        "status",
        "waiting_for",
        "incident",
        "next_deadline",
    ]
    list_display_links = ["reference", "subject"]
    list_filter = [
        QueueFilter,
        ConsultationFilter,
        "team",
        "status",
        "category",
        AssignedFilter,
        SlaFilter,
        IncidentFilter,
        "channel",
    ]
    list_select_related = ["team", "customer", "assignee", "incident_link__incident"]
    search_fields = ["reference", "subject", "customer__email"]
    search_help_text = _("Reference, subject or the customer's email address.")
    # A queue is worked from the top: 50 rows keep the page under 50 ms at 100k tickets, where
    # rendering 100 rows of badges cost ~90 ms (bench/lists.py).
    list_per_page = 50
    # "3 of 100,000" costs a second count of every visible ticket on each page: the queue
    # shows its own count and a "Show all" link instead (bench/lists.py).
    show_full_result_count = False
    actions = ["take", "assign_to", "escalate", "resolve", "link_to_incident"]

    class Media:
        css = {"all": ["admin_helpdesk/admin.css"]}

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_change_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request):
        # Tickets are opened by customers (portal, email, chat, API), never typed in here.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Two index probes per row of a page, not a query: is a team asked, is it mine.
        asked = Consultation.objects.filter(ticket_id=OuterRef("pk"), state=Consultation.State.OPEN)
        my_teams = TeamMembership.objects.filter(user_id=request.user.pk).values("team_id")
        return tickets_visible_to(request.user).annotate(
            consultation_open=Exists(asked),
            asked_of_my_team=Exists(asked.filter(team_id__in=my_teams)),
        )

    def get_ordering(self, request):
        # Read off ticket_next_due_idx: a page of 100 without a subquery per ticket.
        return [F("next_due_at").asc(nulls_last=True), "created_at"]

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, extra_context={"title": gettext("Ticket queue"), **(extra_context or {})}
        )

    @admin.display(description=_("customer"), ordering="customer__email")
    def customer_display(self, ticket):
        return ticket.customer.email or ticket.customer.get_username()

    @admin.display(description=_("next deadline"), ordering=F("next_due_at").asc(nulls_last=True))
    def next_deadline(self, ticket):
        return deadline_badge(ticket.next_due_at, timezone.now())

    @admin.display(description=_("waiting for"))
    def waiting_for(self, ticket):
        marks = []
        if ticket.asked_of_my_team:
            marks.append(("asked", gettext("Your team's answer")))
        elif ticket.consultation_open:
            marks.append(("consultation", gettext("A consultation")))
        if ticket.status == Status.PENDING_APPROVAL:
            marks.append(("approval", gettext("Management approval")))
        if not marks:
            return "—"
        return format_html_join(" ", '<span class="hd-mark hd-mark--{}">{}</span>', marks)

    @admin.display(description=_("incident"))
    def incident(self, ticket):
        link = getattr(ticket, "incident_link", None)
        if link is None:
            return "—"
        return format_html(
            '<a href="{}" class="hd-incident-status hd-incident-status--{}">{}</a>',
            reverse("admin:incidents_incident_change", args=[link.incident_id]),
            link.incident.status,
            link.incident.title,
        )

    # --- Actions: through the services, one ticket at a time, each reported ---

    def _report(self, request, ticket, problem=None, done=""):
        if problem is None:
            self.message_user(request, f"{ticket.reference}: {done}", messages.SUCCESS)
        else:
            self.message_user(request, f"{ticket.reference}: {problem}", messages.ERROR)

    def _apply(self, request, ticket, use_case, done, **kwargs):
        try:
            use_case(ticket_id=ticket.pk, actor=request.user, **kwargs)
        except ServiceError as exc:
            self._report(request, ticket, problem=exc.detail)
        except Http404:
            self._report(request, ticket, problem=gettext("you may no longer see this ticket."))
        else:
            self._report(request, ticket, done=done)

    @admin.action(description=_("Take (assign to me)"))
    def take(self, request, queryset):
        """Only tickets nobody else holds: taking one from a colleague is "Assign to…"."""
        now = timezone.now()
        for ticket in queryset:
            self._apply(request, ticket, ticket_take, gettext("assigned to you."), now=now)

    @admin.action(description=_("Assign to…"))
    def assign_to(self, request, queryset):
        tickets = list(queryset.order_by("pk"))
        members = (
            TeamMembership.objects.filter(
                team_id__in={t.team_id for t in tickets}, user__is_active=True, user__is_staff=True
            )
            .select_related("user")
            .order_by("user__username")
        )
        agents_by_team = {}
        for membership in members:
            agents_by_team.setdefault(membership.team_id, []).append(membership.user)
        if request.POST.get("apply"):
            now = timezone.now()
            for ticket in tickets:
                choice = request.POST.get(f"assignee_{ticket.pk}", "")
                if not choice:
                    continue
                allowed = {str(agent.pk) for agent in agents_by_team.get(ticket.team_id, [])}
                if choice not in allowed:
                    self._report(request, ticket, problem=gettext("No such agent."))
                    continue
                self._apply(
                    request,
                    ticket,
                    ticket_assign,
                    gettext("assigned."),
                    assignee_id=int(choice),
                    now=now,
                )
            return None
        rows = [(ticket, agents_by_team.get(ticket.team_id, [])) for ticket in tickets]
        return self._action_page(
            request,
            "admin/tickets/ticket/assign.html",
            action="assign_to",
            title=gettext("Assign tickets"),
            tickets=tickets,
            rows=rows,
        )

    @admin.action(description=_("Escalate…"))
    def escalate(self, request, queryset):
        tickets = list(queryset.select_related("team").order_by("pk"))
        form = EscalateForm(
            request.POST if request.POST.get("apply") else None, teams=escalation_teams()
        )
        if form.is_valid():
            now = timezone.now()
            for ticket in tickets:
                self._apply(
                    request,
                    ticket,
                    ticket_escalate,
                    gettext("escalated."),
                    team=form.cleaned_data["team"],
                    reason=form.cleaned_data["reason"],
                    now=now,
                )
            return None
        return self._action_page(
            request,
            "admin/tickets/ticket/escalate.html",
            action="escalate",
            title=gettext("Escalate tickets"),
            tickets=tickets,
            form=form,
        )

    @admin.action(description=_("Resolve…"))
    def resolve(self, request, queryset):
        tickets = list(queryset.order_by("pk"))
        summary = request.POST.get("summary", "")
        error = ""
        if request.POST.get("apply"):
            if summary.strip():
                now = timezone.now()
                for ticket in tickets:
                    self._apply(
                        request,
                        ticket,
                        ticket_resolve,
                        gettext("resolved."),
                        summary=summary,
                        now=now,
                    )
                return None
            error = gettext("Say how the problem was resolved.")
        return self._action_page(
            request,
            "admin/tickets/ticket/resolve.html",
            action="resolve",
            title=gettext("Resolve tickets"),
            tickets=tickets,
            summary=summary,
            error=error,
        )

    @admin.action(description=_("Link to an incident…"))
    def link_to_incident(self, request, queryset):
        """All or nothing: one ticket that cannot be linked links none, and says which. The
        ids selected go to the use case as selected, those the queue no longer shows (moved to
        another team since the page was loaded) included, so that it refuses them."""
        tickets = list(queryset.order_by("pk"))
        unseen = []
        if not request.POST.get("select_across"):
            shown = {ticket.pk for ticket in tickets}
            unseen = sorted(
                {
                    int(value)
                    for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                    if value.isascii() and value.isdigit() and len(value) <= 18
                }
                - shown
            )
        form = LinkToIncidentForm(
            request.POST if request.POST.get("apply") else None,
            incidents=incidents_open().order_by("-started_at", "-id"),
        )
        if form.is_valid():
            incident_id = form.cleaned_data["incident"]
            try:
                linked = tickets_link(
                    incident_id=incident_id,
                    actor=request.user,
                    ticket_ids=[ticket.pk for ticket in tickets] + unseen,
                    now=timezone.now(),
                )
            except ServiceError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            except Http404:
                self.message_user(
                    request,
                    gettext("That incident no longer exists. Nothing was linked."),
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d ticket linked: it receives every public update of the incident.",
                        "%(count)d tickets linked: they receive every public update of the "
                        "incident.",
                        len(linked),
                    )
                    % {"count": len(linked)},
                    messages.SUCCESS,
                )
                if len(linked) < len(tickets):
                    self.message_user(
                        request,
                        gettext("%(count)d of the selected tickets were linked to it already.")
                        % {"count": len(tickets) - len(linked)},
                        messages.INFO,
                    )
                return HttpResponseRedirect(
                    reverse("admin:incidents_incident_change", args=[incident_id])
                )
            return None
        return self._action_page(
            request,
            "admin/tickets/ticket/link_to_incident.html",
            action="link_to_incident",
            title=gettext("Link tickets to an incident"),
            tickets=tickets,
            unseen=unseen,
            form=form,
            no_incident=not form.fields["incident"].choices[1:],
        )

    def _action_page(self, request, template, *, action, title, tickets, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "action": action,
            "tickets": tickets,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            # The changelist's filters decide which tickets the action gets: post back to the
            # same query string so that a ticket outside the default queue is not dropped.
            "form_url": request.get_full_path(),
            **extra,
        }
        return TemplateResponse(request, template, context)

    # --- The ticket page ---

    def get_urls(self):
        return [
            path(
                "<int:ticket_id>/attachments/<str:token>/",
                self.admin_site.admin_view(self.attachment_view),
                name="tickets_ticket_attachment",
            ),
            *(
                path(
                    f"<int:ticket_id>/{name}/",
                    self.admin_site.admin_view(self.ticket_action_view),
                    {"name": name},
                    name=f"tickets_ticket_{name}",
                )
                for name in TICKET_ACTIONS
            ),
            *super().get_urls(),
        ]

    def attachment_view(self, request, ticket_id, token):
        """Same check as every other way to a ticket: a file of a ticket you may not see is
        a 404."""
        attachment = access_attachment(request.user, token=token, ticket_id=ticket_id)
        return attachment_response(attachment)

    def ticket_action_view(self, request, ticket_id, name):
        """One form of the ticket page, posted to its own URL: done, back to the page with a
        message; refused (by the form or the use case), the page again with the form's errors
        and the refusal's 4xx status, nothing changed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        ticket = access_ticket(request.user, ticket_id)
        action = TICKET_ACTIONS[name]
        teams = list(escalation_teams())
        form = self._action_form(name, ticket, teams, request.POST)
        status = 400
        if form.is_valid():
            try:
                action.run(request, ticket, form.cleaned_data, timezone.now())
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
                status = exc.status
            else:
                names = {team.slug: team.name for team in teams}
                done = action.done % {
                    "reference": ticket.reference,
                    "team": names.get(form.cleaned_data.get("team"), ""),
                }
                self.message_user(request, done, messages.SUCCESS)
                # Passed to a team the agent is not in, the ticket may have left their sight.
                if tickets_visible_to(request.user).filter(pk=ticket.pk).exists():
                    return HttpResponseRedirect(
                        reverse("admin:tickets_ticket_change", args=[ticket.pk])
                    )
                return HttpResponseRedirect(reverse("admin:tickets_ticket_changelist"))
        response = self.render_ticket_page(
            request,
            ticket,
            ReplyForm(),
            can_reply=self.has_change_permission(request, ticket),
            bound={name: form},
            teams=teams,
        )
        response.status_code = status
        return response

    @staticmethod
    def _action_form(name, ticket, teams, data=None, initial=None):
        form_class = TICKET_ACTIONS[name].form
        kwargs = {"auto_id": f"id_{name}_%s", "initial": initial}
        if issubclass(form_class, EscalateForm | ConsultForm):
            kwargs["teams"] = [team for team in teams if team.pk != ticket.team_id]
        return form_class(data, **kwargs)

    # A reply from the ticket page is one knock at the "reply" door, as in the portal and API.
    @method_decorator(throttled("reply", signed_in_account))
    def change_view(self, request, object_id, form_url="", extra_context=None):
        # access_ticket answers 404 for a ticket the agent may not see (the stock admin would
        # redirect with "does not exist", which differs from a missing id only by chance).
        ticket = access_ticket(request.user, object_id)
        can_reply = self.has_change_permission(request, ticket)
        form = ReplyForm()
        if request.method == "POST":
            if not can_reply:
                raise Http404("No such ticket.")
            form = ReplyForm(request.POST, request.FILES)
            if form.is_valid():
                internal = form.cleaned_data["visibility"] == ReplyForm.INTERNAL
                try:
                    ticket_reply(
                        ticket_id=ticket.pk,
                        author=request.user,
                        body=form.cleaned_data["body"],
                        channel=Channel.WEB,
                        now=timezone.now(),
                        internal=internal,
                        wait_on_customer=form.cleaned_data["wait_on_customer"],
                        attachments=form.cleaned_data["attachments"],
                    )
                except ServiceError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
                else:
                    self.message_user(
                        request,
                        gettext("Internal note added.")
                        if internal
                        else gettext("Reply sent to the customer."),
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(request.path)
        return self.render_ticket_page(request, ticket, form, can_reply=can_reply)

    def render_ticket_page(self, request, ticket, form, *, can_reply, bound=None, teams=None):
        now = timezone.now()
        before = message_id_param(request.GET.get("before"))
        thread, older = thread_page(
            ticket.messages.select_related("author").prefetch_related("attachments"),
            before=before,
        )
        clocks = list(ticket.clocks.select_related("policy").order_by("due_at"))
        others = list(
            tickets_visible_to(request.user)
            .filter(customer_id=ticket.customer_id)
            .exclude(pk=ticket.pk)
            .select_related("team")
            .order_by("-created_at")[: OTHER_TICKETS_LIMIT + 1]
        )
        changelist = reverse("admin:tickets_ticket_changelist")
        incident_link = (
            IncidentLink.objects.filter(ticket_id=ticket.pk).select_related("incident").first()
        )
        if teams is None:
            teams = list(escalation_teams())
        escalation = self._escalation_context(request, ticket, teams, clocks, bound or {}, now)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{ticket.reference} {ticket.subject}",
            "subtitle": None,
            "ticket": ticket,
            "original": ticket,
            "thread": thread,
            "older_before": thread[0].pk if older else None,
            "paged_back": before is not None,
            "clocks": clocks,
            "next_clock": clock_due_next(clocks),
            "now": now,
            "incident_link": incident_link,
            "other_tickets": others[:OTHER_TICKETS_LIMIT],
            "more_other_tickets": len(others) > OTHER_TICKETS_LIMIT,
            "customer_tickets_url": changelist
            + "?"
            + urlencode(
                {
                    QueueFilter.parameter_name: QueueFilter.EVERYTHING,
                    "customer__id__exact": ticket.customer_id,
                }
            ),
            "form": form,
            "can_reply": can_reply,
            "has_view_permission": True,
            "media": self.media + form.media,
            **escalation,
        }
        return TemplateResponse(request, "admin/tickets/ticket/change_form.html", context)

    def _escalation_context(self, request, ticket, teams, clocks, bound, now):
        """What the page shows of escalation: the rules' suggestion, who was asked (and
        whether it is the reader's team), the history, the approvals and the estimate, and
        the four forms (`bound`: the one just posted, with its errors). A fixed number of
        queries, whatever the thread's length."""
        names = {team.slug: team.name for team in teams}
        my_teams = TeamMembership.objects.filter(
            user_id=request.user.pk, team_id=OuterRef("team_id")
        )
        consultations = list(
            consultations_of(ticket.pk).select_related("answer").annotate(mine=Exists(my_teams))
        )
        approvals = list(
            ApprovalRequest.objects.filter(ticket_id=ticket.pk)
            .select_related("requested_by", "decided_by")
            .order_by("-requested_at", "-id")
        )
        first_body = (
            Message.objects.filter(ticket_id=ticket.pk)
            .order_by("id")
            .values_list("body", flat=True)
            .first()
        )
        decision = suggestion_for(ticket=ticket, body=first_body or "", now=now)
        reason = Reason(decision.reason).label if decision.reason in Reason.values else ""
        suggestion = None
        initial = {"escalate": None, "approval": None}
        if (
            ticket.is_active
            and decision.suggested_team in names
            and decision.suggested_team != ticket.team.slug
        ):
            suggestion = {
                "to": names[decision.suggested_team],
                "reason": reason,
                "form": "escalate",
            }
            initial["escalate"] = {"team": decision.suggested_team}
        elif ticket.is_active and decision.approval_kind and not approvals:
            suggestion = {
                "to": gettext("Management approval (%(kind)s)")
                % {"kind": ApprovalKind(decision.approval_kind).label},
                "reason": reason,
                "form": "approval",
            }
            initial["approval"] = {"kind": decision.approval_kind}
        approval_pending = any(a.state == ApprovalRequest.State.PENDING for a in approvals)
        # A closed ticket is passed to nobody; a ticket already waiting on management is not
        # asked again. A refused form shows whatever the ticket's state, with its reason.
        offered = [
            name
            for name in TICKET_ACTIONS
            if name in bound
            or (ticket.status != Status.CLOSED and not (name == "approval" and approval_pending))
        ]
        opened = next(iter(bound), None) or (suggestion or {}).get("form")
        actions = [
            {
                "name": name,
                "title": action.title,
                "submit": action.submit,
                "url": reverse(f"admin:tickets_ticket_{name}", args=[ticket.pk]),
                "open": name == opened,
                "form": bound[name]
                if name in bound
                else self._action_form(name, ticket, teams, initial=initial.get(name)),
            }
            for name, action in TICKET_ACTIONS.items()
            if name in offered
        ]
        resolution = next(
            (
                clock
                for clock in clocks
                if clock.metric == Metric.RESOLUTION and clock.cancelled_at is None
            ),
            None,
        )
        return {
            "suggestion": suggestion,
            "escalations": list(escalations_of(ticket.pk)),
            "consultations": consultations,
            "asked_of_me": [
                c for c in consultations if c.mine and c.state == Consultation.State.OPEN
            ],
            "approvals": approvals,
            "approval_pending": approval_pending,
            "estimate": duration_text(ticket.estimate_seconds) if ticket.estimate_seconds else "",
            "estimate_due": resolution.due_at if ticket.estimate_seconds and resolution else None,
            "actions": actions,
        }
