"""The agents' queue and the ticket page: the Django admin as the staff's desk.

Every page asks `tickets.selectors` who may see what, and every write is a use case
(`usecases.tickets`); the admin only parses, checks the role and renders.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import F
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError
from core.throttle import throttled
from core.urls import message_id_param
from desk.admin.common import deadline_badge, is_staff_request
from desk.admin.filters import AssignedFilter, QueueChangeList, QueueFilter, SlaFilter
from desk.forms import ReplyForm
from sla.services.clocks import clock_due_next
from teams.models import TeamMembership
from tickets.downloads import attachment_response
from tickets.models import Channel, Ticket
from tickets.selectors import (
    access_attachment,
    access_ticket,
    thread_page,
    tickets_visible_to,
)
from usecases.tickets import ticket_assign, ticket_reply, ticket_resolve, ticket_take

OTHER_TICKETS_LIMIT = 10


def signed_in_account(request) -> dict[str, str]:
    return {"account": str(request.user.pk)}


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "subject",
        "customer_display",
        "team",
        "assignee",
        "status",
        "next_deadline",
    ]
    list_display_links = ["reference", "subject"]
    list_filter = [
        QueueFilter,
        "team",
        "status",
        "category",
        AssignedFilter,
        SlaFilter,
        "channel",
    ]
    list_select_related = ["team", "customer", "assignee"]
    search_fields = ["reference", "subject", "customer__email"]
    search_help_text = _("Reference, subject or the customer's email address.")
    # A queue is worked from the top: 50 rows keep the page under 50 ms at 100k tickets, where
    # rendering 100 rows of badges cost ~90 ms (bench/lists.py).
    list_per_page = 50
    # "3 of 100,000" costs a second count of every visible ticket on each page: the queue
    # shows its own count and a "Show all" link instead (bench/lists.py).
    show_full_result_count = False
    actions = ["take", "assign_to", "resolve"]

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
        return tickets_visible_to(request.user)

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
            *super().get_urls(),
        ]

    def attachment_view(self, request, ticket_id, token):
        """Same check as every other way to a ticket: a file of a ticket you may not see is
        a 404."""
        attachment = access_attachment(request.user, token=token, ticket_id=ticket_id)
        return attachment_response(attachment)

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

    def render_ticket_page(self, request, ticket, form, *, can_reply):
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
            "now": timezone.now(),
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
        }
        return TemplateResponse(request, "admin/tickets/ticket/change_form.html", context)
