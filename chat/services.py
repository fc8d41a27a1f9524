"""Writes of live chat: how far each person read, chats nobody took, replies left unread. A
chat is the thread of a ticket with messages on the `chat` channel; starting one is a use case
(`usecases.chat.chat_start`), a message is `ticket_reply`, like every other channel."""

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.translation import ngettext

from accounts.selectors import language_of
from chat.models import Chat, ReadMark
from tickets import notifications
from tickets import services as ticket_services
from tickets.models import Channel, Message, OutboundEmail, Status, Ticket
from tickets.selectors import message_kinds_visible_to

FALLBACK_BATCH = 200


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
        minutes = max(settings.CHAT_WAIT_SECONDS // 60, 1)
        return ngettext(
            "No agent was free to take your chat within %(minutes)s minute. Your conversation "
            "continues as request %(reference)s: we will answer you by email at %(email)s, in "
            "this same thread. You can reply to that email or write here.",
            "No agent was free to take your chat within %(minutes)s minutes. Your conversation "
            "continues as request %(reference)s: we will answer you by email at %(email)s, in "
            "this same thread. You can reply to that email or write here.",
            minutes,
        ) % {
            "minutes": minutes,
            "reference": ticket.reference,
            "email": ticket.customer.email,
        }


def chats_fall_back(*, now: datetime.datetime, limit: int = FALLBACK_BATCH) -> list[int]:
    """Settle the chats waiting longer than CHAT_WAIT_SECONDS: one an agent took (a public
    reply since it started, or the ticket moved on) is settled quietly; otherwise the customer
    is told, once, in the thread and by email, that the conversation continues by email.

    Rows are taken with SKIP LOCKED and settled in the same transaction, so overlapping sweeps
    never tell a customer twice. The ticket's row is locked with its chat, as every message
    insert takes it (`ticket_lock`); one locked by a reply in progress waits for the next sweep
    rather than holding the chat while it waits (a reply locks the ticket, then the chat).
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
            .select_for_update(skip_locked=True, of=("self", "ticket"))
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
            message = ticket_services.system_message_post(
                ticket=ticket,
                body=fallback_text(ticket=ticket, language=language_of(ticket.customer)),
                channel=Channel.CHAT,
                now=now,
            )
            ticket_services.event_record(
                ticket=ticket, action="chat_continued_by_email", actor=None, now=now
            )
            notifications.email_queue(
                ticket=ticket, message=message, purpose="chat_by_email", now=now
            )
            notifications.broadcast_message_on_commit(message)
            fell_back.append(ticket.pk)
    return fell_back


# --- Replies the customer left unread: one email per batch --------------------------------------


def _customer_messages_latest_first(ticket_id: int) -> QuerySet[Message]:
    return Message.objects.filter(ticket_id=ticket_id, kind=Message.Kind.CUSTOMER).order_by("-id")


def unread_email_schedule(*, ticket: Ticket, now: datetime.datetime) -> bool:
    """An agent has just replied in public on `ticket` (whose row lock the caller holds).

    When the conversation is a live chat, the reply is not emailed on its own: the customer is
    emailed the replies they leave unread, together, CHAT_UNREAD_EMAIL_SECONDS after the first
    (`chats_unread_email`); a reply while an email is due joins it. Returns whether it is such
    a chat: the customer started a chat on the ticket, or opened it in one, and is not on email
    now (the chat fell back to email, or the customer's last message came by email). Then no
    reply is emailed one by one, whichever window the agent answers from.

    One UPDATE when the chat row exists, which is the case from the first reply on.
    """
    due = now + datetime.timedelta(seconds=settings.CHAT_UNREAD_EMAIL_SECONDS)
    scheduled = (
        Chat.objects.filter(ticket_id=ticket.pk)
        .exclude(outcome=Chat.Outcome.EMAIL)
        .alias(
            customer_channel=Coalesce(
                Subquery(_customer_messages_latest_first(ticket.pk).values("channel")[:1]),
                Value(""),
            )
        )
        .exclude(customer_channel=Channel.EMAIL)
        .update(unread_email_due_at=Coalesce(F("unread_email_due_at"), Value(due)))
    )
    if scheduled or ticket.channel != Channel.CHAT:
        return bool(scheduled)
    # Opened in chat without waiting in the queue (an imported or demo ticket): this reply
    # takes the chat, unless it fell back to email or the customer writes by email now.
    customer_channel = (
        _customer_messages_latest_first(ticket.pk).values_list("channel", flat=True).first()
    )
    if customer_channel == Channel.EMAIL:
        return False
    _chat, created = Chat.objects.get_or_create(
        ticket=ticket,
        defaults={
            "started_at": ticket.created_at,
            "settled_at": now,
            "outcome": Chat.Outcome.TAKEN,
            "unread_email_due_at": due,
        },
    )
    return created


def chats_unread_email(*, now: datetime.datetime, limit: int = FALLBACK_BATCH) -> list[int]:
    """Email each customer the agents' chat replies they have not read, once the first of them
    is CHAT_UNREAD_EMAIL_SECONDS old: one email quoting them all, in the customer's language,
    threaded on the ticket. Returns the tickets emailed.

    Read means: up to the customer's read mark (the ticket page marks what it shows), or
    before the customer's own last message. Replies an earlier unread email quoted, or emailed
    on their own (a resolution), are not quoted again. A chat whose replies were all read is
    cleared without email; one whose first unread reply is younger is rescheduled.

    The chat and its ticket are locked with SKIP LOCKED and the due time cleared in the same
    transaction: a repeated or overlapping sweep finds nothing left to send.
    """
    delay = datetime.timedelta(seconds=settings.CHAT_UNREAD_EMAIL_SECONDS)
    read_through = ReadMark.objects.filter(
        ticket_id=OuterRef("ticket_id"), user_id=OuterRef("ticket__customer_id")
    ).values("message_id")[:1]
    answered_through = (
        Message.objects.filter(ticket_id=OuterRef("ticket_id"), kind=Message.Kind.CUSTOMER)
        .order_by("-id")
        .values("id")[:1]
    )
    emailed = []
    with transaction.atomic():
        chats = list(
            Chat.objects.filter(unread_email_due_at__lte=now)
            .select_for_update(skip_locked=True, of=("self", "ticket"))
            .select_related("ticket__customer__customer_profile", "ticket__team")
            .annotate(
                read_through=Coalesce(Subquery(read_through), 0, output_field=BigIntegerField()),
                answered_through=Coalesce(
                    Subquery(answered_through), 0, output_field=BigIntegerField()
                ),
            )
            .order_by("unread_email_due_at")[:limit]
        )
        for chat in chats:
            seen = max(
                chat.read_through, chat.answered_through, chat.unread_emailed_message_id or 0
            )
            unread = list(
                Message.objects.filter(
                    ticket_id=chat.ticket_id, kind=Message.Kind.AGENT, pk__gt=seen
                )
                .exclude(Exists(OutboundEmail.objects.filter(message_id=OuterRef("pk"))))
                .select_related("author")
                .order_by("id")
            )
            if unread and unread[0].created_at + delay > now:
                chat.unread_email_due_at = unread[0].created_at + delay
                chat.save(update_fields=["unread_email_due_at"])
                continue
            chat.unread_email_due_at = None
            if unread:
                notifications.email_queue(
                    ticket=chat.ticket,
                    message=None,
                    purpose="unread_replies",
                    now=now,
                    replies=unread,
                )
                chat.unread_emailed_message = unread[-1]
                emailed.append(chat.ticket_id)
            chat.save(update_fields=["unread_email_due_at", "unread_emailed_message"])
    return emailed
