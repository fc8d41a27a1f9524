"""The customer's "start a chat" page: a ticket on the chat channel, then its page, where the
chat runs live (over the WebSocket of `live`; the page also works as plain HTML)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.roles import is_staff_role, user_role
from accounts.selectors import zone_of
from core.errors import ServiceError
from core.throttle import throttled
from portal.forms import ChatStartForm
from portal.status import known_incidents
from portal.tickets import signed_in_account
from usecases.chat import chat_start


@login_required
@throttled("ticket_open", signed_in_account)  # a chat is a ticket: the same door
def start(request: HttpRequest) -> HttpResponse:
    """Start a chat: a ticket on the chat channel, then its page, where the chat runs live."""
    if is_staff_role(user_role(request.user)):
        return render(request, "portal/chat_start.html", {"staff": True}, status=403)
    status = 200
    if request.method == "POST":
        form = ChatStartForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                ticket = chat_start(
                    customer=request.user,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    now=timezone.now(),
                )
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
                status = exc.status
            else:
                url = reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})
                return redirect(f"{url}#conversation-title")
    else:
        form = ChatStartForm()
    with timezone.override(zone_of(request.user)):  # the known incidents' times
        return render(
            request,
            "portal/chat_start.html",
            {"form": form, "known_incidents": known_incidents(request.user)},
            status=status,
        )
