"""The customer portal: my tickets, a new ticket, one ticket's thread, its files.

Thin: forms parse, `tickets.selectors` decides who sees what, the use cases write, and every
refusal of a use case (`core.errors`) is shown on the page with its 4xx status.
"""

import datetime
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.roles import is_staff_role, user_role
from accounts.selectors import zone_of
from core.errors import ServiceError
from core.throttle import throttled
from core.urls import message_id_param
from portal.forms import ReplyForm, TicketFilterForm, TicketOpenForm
from portal.status import known_incidents
from sla.models import Clock
from sla.policy import Metric
from sla.services.clocks import clock_due_next
from tickets import lifecycle
from tickets.downloads import attachment_response
from tickets.models import Channel, Message, Status, Ticket
from tickets.selectors import (
    access_attachment,
    access_ticket,
    thread_page,
    tickets_visible_to,
)
from usecases import tickets as use_cases

PAGE_SIZE = 20
# The portal shows the conversation the customer takes part in; internal notes live in the
# agents' queues.
PORTAL_KINDS = (Message.Kind.CUSTOMER, Message.Kind.AGENT, Message.Kind.SYSTEM)
# The promises in the customer's words, in the order they fall due.
PROMISE_ORDER = (
    Metric.ACKNOWLEDGEMENT,
    Metric.FIRST_RESPONSE,
    Metric.STATUS_UPDATE,
    Metric.RESOLUTION,
)
PROMISE_LABELS = {
    Metric.ACKNOWLEDGEMENT: gettext_lazy("Automatic reply"),
    Metric.FIRST_RESPONSE: gettext_lazy("Reply from a person on our team"),
    Metric.STATUS_UPDATE: gettext_lazy("Next status update"),
    Metric.RESOLUTION: gettext_lazy("Resolution target"),
}
# The ticket just opened in this session: its page shows once what happens next.
OPENED_SESSION_KEY = "portal_opened_ticket"


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render with every time in the viewer's own zone."""
    zone = zone_of(request.user)
    with timezone.override(zone):
        return render(request, template, {**context, "viewer_zone": zone.key}, status=status)


def _promise(clock: Clock, now: datetime.datetime) -> dict:
    if clock.met_at is not None:
        state = "met"
    elif clock.paused:
        state = "paused"
    elif clock.due_at <= now:
        state = "late"
    else:
        state = "due"
    return {"label": PROMISE_LABELS[Metric(clock.metric)], "clock": clock, "state": state}


def signed_in_account(request: HttpRequest) -> dict[str, str]:
    """Who knocks at a door besides the client address: the signed-in person."""
    return {"account": str(request.user.pk)}


def _service_error(form, exc: ServiceError) -> int:
    """Show a service's refusal on the form: a field's problem is a form error (200), a
    refusal of the action keeps its 4xx status."""
    if exc.field in form.fields:
        form.add_error(exc.field, exc.detail)
        return 200
    form.add_error(None, exc.detail)
    return exc.status


@login_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    filter_form = TicketFilterForm(request.GET)
    status = filter_form.cleaned_data["status"] if filter_form.is_valid() else ""
    tickets = tickets_visible_to(request.user)
    if status == TicketFilterForm.OPEN:
        tickets = tickets.exclude(status=Status.CLOSED)
    elif status == TicketFilterForm.CLOSED:
        tickets = tickets.filter(status=Status.CLOSED)
    running = Clock.objects.filter(met_at__isnull=True, cancelled_at__isnull=True)
    tickets = (
        tickets.select_related("team")
        .prefetch_related(Prefetch("clocks", queryset=running, to_attr="running_clocks"))
        .order_by("-last_activity_at", "-pk")
    )
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = []
    for ticket in page:
        clock = clock_due_next(ticket.running_clocks)
        rows.append({"ticket": ticket, "next": _promise(clock, now) if clock else None})
    return _render(
        request,
        "portal/list.html",
        {
            "rows": rows,
            "page": page,
            "status_filter": status,
            "filters": TicketFilterForm.base_fields["status"].choices,
            "staff": is_staff_role(user_role(request.user)),
        },
    )


@login_required
@throttled("ticket_open", signed_in_account)
def ticket_new(request: HttpRequest) -> HttpResponse:
    if is_staff_role(user_role(request.user)):
        # A ticket belongs to the customer who opens it; staff open one for a customer from
        # the agents' queues.
        return _render(request, "portal/staff_only.html", {}, status=403)
    status = 200
    if request.method == "POST":
        form = TicketOpenForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = use_cases.ticket_open(
                    customer=request.user,
                    subject=data["subject"],
                    body=data["description"],
                    category=data["category"],
                    priority=data["priority"],
                    data_center=data.get("data_center", ""),
                    channel=Channel.WEB,
                    attachments=data["attachments"],
                    now=timezone.now(),
                )
            except ServiceError as exc:
                status = _service_error(form, exc)
            else:
                request.session[OPENED_SESSION_KEY] = ticket.pk
                return redirect("tickets:detail", ticket_id=ticket.pk)
    else:
        form = TicketOpenForm()
    return _render(
        request,
        "portal/new.html",
        {
            "form": form,
            "files_lost": bool(request.FILES) and form.errors,
            "known_incidents": known_incidents(request.user),
        },
        status=status,
    )


def _detail_page(
    request: HttpRequest, ticket: Ticket, *, reply_form: ReplyForm | None = None, status: int = 200
) -> HttpResponse:
    before = message_id_param(request.GET.get("before"))
    thread, older = thread_page(
        ticket.messages.filter(kind__in=PORTAL_KINDS)
        .select_related("author")
        .prefetch_related("attachments"),
        before=before,
    )
    clocks = list(ticket.clocks.order_by("started_at", "pk"))
    now = timezone.now()
    # The latest clock of each metric: a reopened ticket's earlier, cancelled ones are history.
    latest = {c.metric: c for c in clocks if c.cancelled_at is None}
    promises = [_promise(latest[m], now) for m in PROMISE_ORDER if m in latest]
    next_clock = clock_due_next(clocks)
    can_reply = lifecycle.may_reply(ticket.status)
    if reply_form is None and can_reply:
        reply_form = ReplyForm(initial={"client_id": uuid.uuid4().hex})
    opened = request.session.get(OPENED_SESSION_KEY) == ticket.pk
    if opened:
        del request.session[OPENED_SESSION_KEY]
    return _render(
        request,
        "portal/detail.html",
        {
            "ticket": ticket,
            "thread": thread,
            # Older messages, a page at a time; the live conversation runs on the latest page.
            "older_before": thread[0].pk if older else None,
            "paged_back": before is not None,
            "promises": promises,
            "next_promise": _promise(next_clock, now) if next_clock else None,
            "reply_form": reply_form,
            "can_reply": can_reply,
            "can_confirm": ticket.status == Status.RESOLVED
            and ticket.customer_id == request.user.pk,
            "opened": opened,
            "files_lost": bool(request.FILES) and reply_form is not None and reply_form.errors,
        },
        status=status,
    )


@login_required
@throttled("reply", signed_in_account)
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = access_ticket(request.user, ticket_id)
    if request.method != "POST":
        return _detail_page(request, ticket)
    form = ReplyForm(request.POST, request.FILES)
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            message, _created = use_cases.ticket_reply(
                ticket_id=ticket.pk,
                author=request.user,
                body=data["body"],
                channel=Channel.WEB,
                client_id=data["client_id"] or None,
                attachments=data["attachments"],
                now=timezone.now(),
            )
        except ServiceError as exc:
            status = _service_error(form, exc)
        else:
            if ticket.status == Status.RESOLVED:
                messages.success(request, _("Thank you. Your reply has reopened the ticket."))
            else:
                messages.success(request, _("Your reply has been sent."))
            url = reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})
            return redirect(f"{url}#message-{message.pk}")
    return _detail_page(request, ticket, reply_form=form, status=status)


@login_required
@require_POST
def ticket_confirm(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = access_ticket(request.user, ticket_id)
    try:
        use_cases.ticket_confirm(ticket_id=ticket.pk, customer=request.user, now=timezone.now())
    except ServiceError as exc:
        messages.error(request, exc.detail)
        return _detail_page(request, ticket, status=exc.status)
    messages.success(
        request,
        _("Thank you for confirming. The ticket is closed and keeps all its details."),
    )
    return redirect("tickets:detail", ticket_id=ticket.pk)


@login_required
def attachment_download(request: HttpRequest, ticket_id: int, attachment_id: int) -> FileResponse:
    attachment = access_attachment(request.user, attachment_id=attachment_id, ticket_id=ticket_id)
    return attachment_response(attachment)
