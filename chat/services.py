"""Write use cases of live chat. A chat is the thread of a ticket with messages on the `chat`
channel: opening one is `ticket_open`, a message is `ticket_reply`, like every other channel."""

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import translation
from django.utils.translation import gettext as _

from chat.models import Chat, ReadMark
from tickets import lifecycle, notifications
from tickets import services as ticket_services
from tickets.errors import Conflict, NotAllowed, ServiceError
from tickets.models import Category, Channel, Message, Status, Ticket
from tickets.selectors import Role, access_ticket, message_kinds_visible_to, user_role

FALLBACK_BATCH = 200


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
            ticket = ticket_services.ticket_open(
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
                ticket_services.ticket_reply(
                    ticket_id=ticket.pk, author=customer, body=body, channel=Channel.CHAT, now=now
                )
        chat, created = Chat.objects.select_for_update().get_or_create(
            ticket=ticket, defaults={"started_at": now}
        )
        if not created and chat.settled_at is not None:
            chat.started_at, chat.settled_at, chat.outcome = now, None, ""
            chat.save(update_fields=["started_at", "settled_at", "outcome"])
    return ticket


def read_mark(
    *, user: AbstractBaseUser, ticket_id: int, message_id: int, now: datetime.datetime
) -> str | None:
    """`user` has read the thread up to `message_id`. The mark only moves forward.

    Returns the kind of the message (so the receipt reaches only those who may see it), or
    None when no such message of this ticket is visible to `user`.
    """
    kind = (
        Message.objects.filter(
            pk=message_id, ticket_id=ticket_id, kind__in=message_kinds_visible_to(user)
        )
        .values_list("kind", flat=True)
        .first()
    )
    if kind is None:
        return None
    moved = ReadMark.objects.filter(
        ticket_id=ticket_id, user=user, message_id__lt=message_id
    ).update(message_id=message_id, read_at=now)
    if not moved:
        # No mark yet (or one already further on, which the conflict keeps).
        ReadMark.objects.bulk_create(
            [ReadMark(ticket_id=ticket_id, user=user, message_id=message_id, read_at=now)],
            ignore_conflicts=True,
        )
    return kind


def fallback_text(*, ticket: Ticket, language: str) -> str:
    with translation.override(language):
        return _(
            "No agent was free to take your chat within %(minutes)s minutes. Your conversation "
            "continues as request %(reference)s: we will answer you by email at %(email)s, in "
            "this same thread. You can reply to that email or write here."
        ) % {
            "minutes": max(settings.CHAT_WAIT_SECONDS // 60, 1),
            "reference": ticket.reference,
            "email": ticket.customer.email,
        }


def chats_fall_back(*, now: datetime.datetime, limit: int = FALLBACK_BATCH) -> list[int]:
    """Settle the chats waiting longer than CHAT_WAIT_SECONDS: one an agent took (a public
    reply since it started, or the ticket moved on) is settled quietly; otherwise the customer
    is told, once, in the thread and by email, that the conversation continues by email.

    Rows are taken with SKIP LOCKED and settled in the same transaction, so overlapping sweeps
    never tell a customer twice.
    """
    cutoff = now - datetime.timedelta(seconds=settings.CHAT_WAIT_SECONDS)
    answered = Message.objects.filter(
        ticket_id=OuterRef("ticket_id"),
        kind=Message.Kind.AGENT,
        created_at__gte=OuterRef("started_at"),
    )
    fell_back = []
    with transaction.atomic():
        chats = list(
            Chat.objects.filter(settled_at__isnull=True, started_at__lte=cutoff)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("ticket__customer__customer_profile", "ticket__team")
            .annotate(answered=Exists(answered))
            .order_by("started_at")[:limit]
        )
        for chat in chats:
            ticket = chat.ticket
            taken = chat.answered or ticket.status not in (Status.NEW, Status.OPEN)
            chat.settled_at = now
            chat.outcome = Chat.Outcome.TAKEN if taken else Chat.Outcome.EMAIL
            chat.save(update_fields=["settled_at", "outcome"])
            if taken:
                continue
            message, _created = ticket_services.message_post(
                ticket=ticket,
                author=None,
                kind=Message.Kind.SYSTEM,
                body=fallback_text(
                    ticket=ticket, language=notifications.language_of(ticket.customer)
                ),
                channel=Channel.CHAT,
                now=now,
            )
            ticket_services.event_record(
                ticket=ticket, action="chat_continued_by_email", actor=None, now=now
            )
            notifications.email_queue(ticket=ticket, message=message, purpose="status", now=now)
            notifications.broadcast_message_on_commit(message)
            fell_back.append(ticket.pk)
    return fell_back
