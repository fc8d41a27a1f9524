"""Starting a live chat: a new ticket on the chat channel, or a ticket of the customer's
continued in chat, in the same thread."""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role, user_role
from chat.models import Chat
from core.errors import Conflict, NotAllowed, ServiceError
from tickets import lifecycle
from tickets.models import Category, Channel, Ticket
from tickets.selectors import access_ticket
from usecases.tickets import ticket_open, ticket_reply


def chat_start(
    *,
    customer: AbstractBaseUser,
    now: datetime.datetime,
    ticket_id: int | None = None,
    subject: str = "",
    body: str = "",
    category: str = Category.OTHER,
) -> Ticket:
    """A customer starts a live chat: a new ticket on the chat channel, or the continuation of
    one of their tickets in the same thread. Either way they wait for an agent from now on,
    unless they were already waiting."""
    if user_role(customer) != Role.CUSTOMER:
        raise NotAllowed(_("Only customers start a chat; agents join its conversation."))
    body = body.strip()
    with transaction.atomic():
        if ticket_id is None:
            if not body:
                raise ServiceError(_("Say what you need help with."), field="body")
            ticket = ticket_open(
                customer=customer,
                subject=subject.strip() or _("Live chat"),
                body=body,
                category=category,
                channel=Channel.CHAT,
                now=now,
            )
        else:
            ticket = access_ticket(customer, ticket_id, lock=True)
            if not lifecycle.may_reply(ticket.status):
                raise Conflict(
                    _("This ticket is closed. Please open a new ticket; you can mention %(ref)s.")
                    % {"ref": ticket.reference},
                    code="ticket_closed",
                )
            if body:
                ticket_reply(
                    ticket_id=ticket.pk, author=customer, body=body, channel=Channel.CHAT, now=now
                )
        chat, created = Chat.objects.select_for_update().get_or_create(
            ticket=ticket, defaults={"started_at": now}
        )
        if not created and chat.settled_at is not None:
            chat.started_at, chat.settled_at, chat.outcome = now, None, ""
            chat.save(update_fields=["started_at", "settled_at", "outcome"])
    return ticket
