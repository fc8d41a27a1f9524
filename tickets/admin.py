"""The agents' queues: the Django admin as the staff's desk.

Every page asks `tickets.selectors` who may see what, and every write goes through
`tickets.services`; the admin only parses, checks the role and renders.
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, F, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from escalation.models import TeamMembership
from sla.models import Clock
from sla.services import clock_due_next
from tickets.downloads import attachment_response
from tickets.errors import ServiceError
from tickets.models import (
    ACTIVE_STATUSES,
    Channel,
    CustomerProfile,
    Event,
    Message,
    OutboundEmail,
    Ticket,
)
from tickets.selectors import (
    access_attachment,
    access_ticket,
    is_staff_role,
    oversees_everything,
    tickets_visible_to,
    user_role,
)
from tickets.services import ticket_assign, ticket_reply, ticket_resolve

User = get_user_model()

admin.site.site_header = _("INTROSERV support desk")
admin.site.site_title = _("INTROSERV support desk")
admin.site.index_title = _("Queues and records")

# "Due soon" in the queue's SLA filter and the amber badge.
DUE_SOON = datetime.timedelta(minutes=5)
OTHER_TICKETS_LIMIT = 10


def is_staff_request(request: HttpRequest) -> bool:
    return is_staff_role(user_role(request.user))


def is_manager_request(request: HttpRequest) -> bool:
    return oversees_everything(request.user)


def running_clocks() -> QuerySet[Clock]:
    """Clocks of the ticket in the outer query that still hold a promise."""
    return Clock.objects.filter(
        ticket_id=OuterRef("pk"), met_at__isnull=True, cancelled_at__isnull=True
    )


def duration_text(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if not minutes:
            return gettext("%(hours)d h") % {"hours": hours}
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    days, hours = divmod(hours, 24)
    return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}


def deadline_badge(due_at: datetime.datetime | None, now: datetime.datetime) -> str:
    """A countdown to the next promise: green, amber within five minutes, red once late."""
    if due_at is None:
        return "—"
    seconds = (due_at - now).total_seconds()
    if seconds < 0:
        state, text = "late", gettext("%(duration)s late") % {"duration": duration_text(-seconds)}
    else:
        state = "soon" if seconds <= DUE_SOON.total_seconds() else "ok"
        text = gettext("in %(duration)s") % {"duration": duration_text(seconds)}
    return format_html(
        '<time class="hd-deadline hd-deadline--{}" datetime="{}" title="{}">{}</time>',
        state,
        due_at.isoformat(),
        timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M:%S %Z"),
        text,
    )


class StaffOnlyMixin:
    """Staff see by role (agents carry no Django model permissions); nobody edits history."""

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VisibleTicketsMixin(StaffOnlyMixin):
    """Rows that belong to a ticket: only those of tickets the user may see."""

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(ticket__in=tickets_visible_to(request.user).values("pk"))
        )


# --- The queue: list filters ------------------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    """The default view is the agent's own queue; clearing it shows all they may see."""

    title = _("queue")
    parameter_name = "queue"
    MINE = "mine"
    EVERYTHING = "all"

    def lookups(self, request, model_admin):
        return [
            (self.MINE, _("My teams, open")),
            (self.EVERYTHING, _("Everything I can see")),
        ]

    def value(self):
        return super().value() or self.MINE

    def queryset(self, request, queryset):
        if self.value() == self.EVERYTHING:
            return queryset
        # Uncorrelated IN, as in tickets_visible_to: hashed once, not a lookup per ticket.
        my_teams = TeamMembership.objects.filter(user_id=request.user.pk).values("team_id")
        return queryset.filter(team_id__in=my_teams, status__in=ACTIVE_STATUSES)

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}, remove=["p"]
                ),
                "display": title,
            }


class AssignedFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("me", _("Me")), ("nobody", _("Unassigned"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = _("Anyone")
        return choices


class SlaFilter(admin.SimpleListFilter):
    """On running clocks only: a met promise is no longer anybody's worry."""

    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("due_soon", _("Due within 5 minutes")), ("breached", _("Breached"))]

    def queryset(self, request, queryset):
        if self.value() == "due_soon":
            # Some running, unpaused clock is due by then exactly when the first one is.
            return queryset.filter(next_due_at__lte=timezone.now() + DUE_SOON)
        if self.value() == "breached":
            return queryset.filter(Exists(running_clocks().filter(breached_at__isnull=False)))
        return queryset


class QueueChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # The default queue is a filter like the others: "Clear all filters" leaves the agent
        # with everything they may see rather than with the default again.
        if self.params.get(QueueFilter.parameter_name) != QueueFilter.EVERYTHING:
            self.has_active_filters = True
        self.clear_all_filters_qs = self.get_query_string(
            new_params={QueueFilter.parameter_name: QueueFilter.EVERYTHING},
            remove=self.get_filters_params(),
        )
        return queryset

    def get_ordering_field_columns(self):
        if ORDER_VAR in self.params or "next_deadline" not in self.list_display:
            return super().get_ordering_field_columns()
        return {self.list_display.index("next_deadline"): "asc"}


# --- Forms ------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        cleaned = []
        for item in files:
            cleaned.append(super().clean(item, initial))
        return cleaned


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


# --- Tickets ----------------------------------------------------------------------------------


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
        now = timezone.now()
        for ticket in queryset:
            self._apply(
                request,
                ticket,
                ticket_assign,
                gettext("assigned to you."),
                assignee_id=None,
                now=now,
            )

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
        thread = list(
            ticket.messages.select_related("author").prefetch_related("attachments").all()
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


# --- The rest of the conversation, read-only --------------------------------------------------
# Attachments have no list of their own: they are reached from their ticket's page, through
# the one permission-checked download above.


@admin.register(Message)
class MessageAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ["ticket", "kind", "author", "created_at", "excerpt"]
    list_filter = ["kind", "channel"]
    list_select_related = ["ticket", "author"]
    search_fields = ["ticket__reference", "body"]
    fields = ["ticket", "kind", "channel", "author", "created_at", "body", "email_message_id"]
    readonly_fields = fields

    @admin.display(description=_("body"))
    def excerpt(self, message):
        return message.body[:80]


@admin.register(Event)
class EventAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    """The audit log: append-only, so nobody adds, changes or deletes a row here."""

    list_display = ["at", "ticket", "action", "actor", "before", "after"]
    list_filter = ["action"]
    list_select_related = ["ticket", "actor"]
    search_fields = ["ticket__reference"]
    fields = ["ticket", "action", "actor", "at", "before", "after"]
    readonly_fields = fields


@admin.register(OutboundEmail)
class OutboundEmailAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    """The outbox, for managers who check what a customer was told and whether it left."""

    list_display = ["created_at", "ticket", "purpose", "to", "state", "attempts", "sent_at"]
    list_filter = ["state", "purpose"]
    list_select_related = ["ticket"]
    search_fields = ["ticket__reference", "to"]
    # The HTML body is the text body rendered for mail clients; it is not shown as markup here.
    fields = readonly_fields = [
        "ticket",
        "message",
        "purpose",
        "to",
        "subject",
        "body_text",
        "rfc_message_id",
        "in_reply_to",
        "references",
        "state",
        "attempts",
        "created_at",
        "claimed_at",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]

    def has_module_permission(self, request):
        return is_manager_request(request)

    def has_view_permission(self, request, obj=None):
        return is_manager_request(request)


# --- People -----------------------------------------------------------------------------------


class CustomerProfileInline(admin.StackedInline):
    model = CustomerProfile
    can_delete = False
    fields = ["language", "timezone", "company"]


admin.site.unregister(User)


@admin.register(User)
class HelpdeskUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, CustomerProfileInline]
