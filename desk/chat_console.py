"""The agents' live chat console in the admin: chats waiting for a person, and my conversations
side by side.

Thin: `chat.selectors` reads the queue, `tickets.selectors.access_ticket` decides who sees a
conversation, the use cases write. The conversations themselves run over the WebSocket
(`live.consumers`); every page here also works as plain HTML.
"""

from django.contrib import admin, messages
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import is_staff_role, user_role
from chat import selectors
from core.errors import ServiceError
from core.formats import duration_text
from desk.forms import ReplyForm
from tickets.models import Message, Ticket
from tickets.selectors import access_ticket, tickets_visible_to
from usecases.tickets import ticket_take

# The waiting list shows the longest waits; more than this many at once is a staffing
# problem, not a list to scroll.
QUEUE_LIMIT = 50
# Conversations the console opens by itself: the agent's own, plus any asked for by `open`.
PANES_LIMIT = 8


# --- The agents' console ----------------------------------------------------------------------


def _require_staff(request: HttpRequest) -> None:
    # admin_view already sent everyone else to the login page; this keeps the rule explicit.
    if not is_staff_role(user_role(request.user)):
        raise Http404


def _queue_rows(request: HttpRequest, now) -> list[dict]:
    waiting = selectors.chats_waiting(user=request.user)[:QUEUE_LIMIT]
    return [
        {
            "ticket": chat,
            "waited": duration_text(max((now - chat.waiting_since).total_seconds(), 0)),
            "mine": chat.assignee_id == request.user.pk,
        }
        for chat in waiting
    ]


def _thread() -> Prefetch:
    """A conversation's whole thread (agents read internal notes too), for every pane in one
    query."""
    messages = Message.objects.select_related("author").prefetch_related("attachments")
    return Prefetch("messages", queryset=messages, to_attr="pane_thread")


def _pane(ticket: Ticket) -> dict:
    # One reply box per conversation: the ticket page's form, with ids of its own.
    return {"ticket": ticket, "form": ReplyForm(auto_id=f"chat{ticket.pk}_%s")}


def console(request: HttpRequest) -> TemplateResponse:
    """Waiting chats of my teams, and my conversations side by side. `?open=<id>` adds a
    conversation (how "Open" works without JavaScript)."""
    _require_staff(request)
    now = timezone.now()
    tickets = list(
        selectors.chats_taken_by(user=request.user).prefetch_related(_thread())[:PANES_LIMIT]
    )
    shown = {ticket.pk for ticket in tickets}
    wanted = [
        int(value)
        for value in request.GET.getlist("open")
        if value.isdigit() and len(value) <= 18 and int(value) not in shown
    ][:PANES_LIMIT]
    if wanted:
        visible = tickets_visible_to(request.user).filter(pk__in=wanted)
        tickets += visible.select_related("team", "customer", "assignee").prefetch_related(
            _thread()
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Live chats"),
        "rows": _queue_rows(request, now),
        "panes": [_pane(ticket) for ticket in tickets],
        "now": now,
    }
    return TemplateResponse(request, "admin/chat/console.html", context)


@require_GET
def queue(request: HttpRequest) -> TemplateResponse:
    """The waiting list alone, for the console to refresh every few seconds."""
    _require_staff(request)
    now = timezone.now()
    context = {"rows": _queue_rows(request, now), "now": now}
    return TemplateResponse(request, "admin/chat/_queue_rows.html", context)


@require_GET
def pane(request: HttpRequest, ticket_id: int) -> TemplateResponse:
    """One conversation, for the console to open next to the others."""
    _require_staff(request)
    ticket = access_ticket(request.user, ticket_id)
    prefetch_related_objects([ticket], _thread())
    return TemplateResponse(request, "admin/chat/_pane.html", {"pane": _pane(ticket)})


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
def take(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The agent takes a chat nobody else holds (it is assigned to them); one held by a
    colleague is refused with who holds it (409). The console asks for JSON; a plain form post
    comes back to the console, with the conversation open once it is theirs."""
    _require_staff(request)
    try:
        ticket = ticket_take(ticket_id=ticket_id, actor=request.user, now=timezone.now())
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse({"detail": str(exc.detail), "code": exc.code}, status=exc.status)
        messages.error(request, exc.detail)
        return redirect("chat_console:console")
    if _wants_json(request):
        return JsonResponse({"ticket": ticket.pk})
    messages.success(request, _("%(reference)s is yours.") % {"reference": ticket.reference})
    return redirect(f"{reverse('chat_console:console')}?open={ticket.pk}")
