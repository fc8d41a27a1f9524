"""What a ticket tells the outside: emails through the outbox, live events through the channel
layer. Both are queued by services and go out only after COMMIT (`core.effects`)."""

import datetime
import logging
import uuid
from collections.abc import Sequence
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.selectors import language_of, zone_of
from core.effects import broadcast_on_commit, enqueue_on_commit
from tickets.models import Message, OutboundEmail, Ticket
from tickets.rendering import message_rendered, message_written_shape
from tickets.reply_address import reply_address_for

log = logging.getLogger(__name__)

# The task that delivers an outbox row (tickets.tasks), enqueued by name after COMMIT.
EMAIL_DELIVER_TASK = "tickets.email_deliver"


def mail_domain() -> str:
    return settings.SUPPORT_EMAIL.rpartition("@")[2] or "localhost"


def thread_id(ticket: Ticket) -> str:
    """The Message-ID every email of a ticket refers to, so that replies thread to it."""
    return f"<{ticket.reference}@{mail_domain()}>"


SUBJECT_BY_PURPOSE = {
    "acknowledgement": gettext_noop("We have received your request"),
    "reply": gettext_noop("New reply to your request"),
    "status": gettext_noop("Your request has a new status"),
    "resolution": gettext_noop("Your request has been resolved"),
    "escalation": gettext_noop("Your request has been passed to a specialist team"),
    "estimate": gettext_noop("The estimate for your request"),
    "approval": gettext_noop("Your request and the approval of our management"),
    "chat_by_email": gettext_noop("Your chat continues by email"),
    "unread_replies": gettext_noop("You have unread replies in your chat"),
    "incident": gettext_noop("An update on a problem affecting your service"),
}
# The template of each purpose that needs its own; the others use `notification`.
TEMPLATE_BY_PURPOSE = {"unread_replies": "unread_replies"}


def email_queue(
    *,
    ticket: Ticket,
    message: Message | None,
    purpose: str,
    now: datetime.datetime,
    replies: Sequence[Message] = (),
) -> OutboundEmail | None:
    """Write an email to the customer into the outbox, in their language and time zone,
    threaded on the ticket; a task delivers it after COMMIT. Internal notes are never emailed.

    `message` is the one the email is about; `replies`, the several it quotes (unread chat
    replies)."""
    if any(not m.is_public for m in (message, *replies) if m is not None):
        raise ValueError("an internal note cannot be emailed to the customer")
    customer = ticket.customer
    if not customer.email:
        return None
    language = language_of(customer)
    with translation.override(language), timezone.override(zone_of(customer)):
        context = {
            "ticket": ticket,
            "message": message,
            "replies": replies,
            "purpose": purpose,
            "ticket_url": f"{settings.SITE_URL}/tickets/{ticket.pk}/",
            "customer_name": customer.get_full_name() or customer.get_username(),
        }
        # One line: a line break in a header would make the send fail (BadHeaderError).
        subject = " ".join(f"[{ticket.reference}] {ticket.subject}".split())
        context["headline"] = _(SUBJECT_BY_PURPOSE[purpose])
        template = TEMPLATE_BY_PURPOSE.get(purpose, "notification")
        body_text = render_to_string(f"tickets/email/{template}.txt", context)
        body_html = render_to_string(f"tickets/email/{template}.html", context)
    root = thread_id(ticket)
    last_inbound = (
        ticket.messages.exclude(email_message_id="")
        .filter(kind=Message.Kind.CUSTOMER)
        .order_by("-id")
        .values_list("email_message_id", flat=True)
        .first()
    )
    references = " ".join(r for r in (root, last_inbound) if r)
    email = OutboundEmail.objects.create(
        ticket=ticket,
        message=message,
        purpose=purpose,
        to=customer.email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        rfc_message_id=make_msgid(idstring=uuid.uuid4().hex[:12], domain=mail_domain()),
        in_reply_to=last_inbound or root,
        references=references,
        # Whoever answers this email proves they received it: the reply joins the ticket.
        reply_to=reply_address_for(ticket_id=ticket.pk, user_id=customer.pk),
        created_at=now,
        next_attempt_at=now,
    )
    enqueue_on_commit(EMAIL_DELIVER_TASK, email.pk)
    return email


def conversation_group(ticket_id: int) -> str:
    return f"conversation.{ticket_id}"


def broadcast_message_on_commit(message: Message, *, with_attachments: bool = False) -> None:
    """The event carries the message rendered once, after COMMIT, in its public shape: each
    socket only checks the kind against its reader's (internal notes reach staff only) and
    sends it without a query, however many sockets the conversation has. A message just
    written is rendered from memory; one with attachments is read back (one query more)."""
    message_id, kind, client_id = message.pk, str(message.kind), message.client_id
    previous = getattr(message, "previous_id", None)

    def event() -> dict | None:
        rendered = (
            message_rendered(message_id) if with_attachments else message_written_shape(message)
        )
        if rendered is None:
            return None
        event = {
            "type": "conversation.message",
            "message_id": message_id,
            "kind": kind,
            "message": rendered,
        }
        if client_id:
            event["client_id"] = client_id
        if previous is not None:
            event["previous"] = previous
        return event

    broadcast_on_commit(conversation_group(message.ticket_id), event)


def email_deliver(*, outbound_id: int, now: datetime.datetime) -> bool:
    """Send one outbox row, once. The claim is a conditional UPDATE (pending -> sending), so a
    duplicate task finds nothing to do; a failure puts the row back for a later attempt."""
    claimed = OutboundEmail.objects.filter(
        pk=outbound_id, state=OutboundEmail.State.PENDING, next_attempt_at__lte=now
    ).update(state=OutboundEmail.State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return False
    email = OutboundEmail.objects.get(pk=outbound_id)
    headers = {
        "Message-ID": email.rfc_message_id,
        # Asks Exchange not to send out-of-office answers back; we would ignore them anyway.
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if email.purpose in AUTOMATIC_PURPOSES:
        # RFC 3834: automatic mail says so, so that auto-responders don't answer back.
        headers["Auto-Submitted"] = AUTOMATIC_PURPOSES[email.purpose]
    if email.in_reply_to:
        headers["In-Reply-To"] = email.in_reply_to
    if email.references:
        headers["References"] = email.references
    try:
        # A bounded wait: an SMTP server that never answers must not hold the worker until
        # the hard time limit kills it with the row still claimed.
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT or SMTP_TIMEOUT_SECONDS)
        mail = EmailMultiAlternatives(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.to],
            reply_to=[email.reply_to or settings.SUPPORT_EMAIL],
            headers=headers,
            connection=connection,
        )
        if email.body_html:
            mail.attach_alternative(email.body_html, "text/html")
        mail.send()
    except Exception as exc:  # SMTP and network errors alike: retry later, give up after a few
        failed = email.attempts >= MAX_ATTEMPTS
        OutboundEmail.objects.filter(pk=email.pk).update(
            state=OutboundEmail.State.FAILED if failed else OutboundEmail.State.PENDING,
            next_attempt_at=now
            + datetime.timedelta(seconds=RETRY_BACKOFF_SECONDS * 2**email.attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        log.warning(
            "email %s to %s failed (attempt %s): %s", email.pk, email.to, email.attempts, exc
        )
        return False
    OutboundEmail.objects.filter(pk=email.pk).update(state=OutboundEmail.State.SENT, sent_at=now)
    return True


MAX_ATTEMPTS = 6
# RFC 3834: the acknowledgement answers the customer's message; the others are generated.
AUTOMATIC_PURPOSES = {
    "acknowledgement": "auto-replied",
    "status": "auto-generated",
    "chat_by_email": "auto-generated",
    "escalation": "auto-generated",
    "estimate": "auto-generated",
    "approval": "auto-generated",
    "escalated": "auto-generated",
    "consulted": "auto-generated",
    "consultation_answered": "auto-generated",
    "approval_requested": "auto-generated",
    "breach_alert": "auto-generated",
    "at_risk": "auto-generated",
    "status_update_due": "auto-generated",
}
RETRY_BACKOFF_SECONDS = 30
SMTP_TIMEOUT_SECONDS = 30


def broadcast_ticket_on_commit(ticket: Ticket) -> None:
    """Status, team or assignee changed: sockets of the conversation refresh the ticket."""
    broadcast_on_commit(
        conversation_group(ticket.pk), {"type": "conversation.ticket", "ticket_id": ticket.pk}
    )


def staff_email_queue(
    *,
    to: str,
    template: str,
    context: dict,
    language: str,
    purpose: str,
    now: datetime.datetime,
    ticket: Ticket | None = None,
) -> OutboundEmail:
    """An email to staff (breach alerts, warnings) through the same outbox as customers'."""
    with translation.override(language):
        context = {**context, "site_url": settings.SITE_URL}
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body_text = render_to_string(f"{template}.txt", context)
    email = OutboundEmail.objects.create(
        ticket=ticket,
        purpose=purpose,
        to=to,
        subject=" ".join(subject.split())[:255],
        body_text=body_text,
        rfc_message_id=make_msgid(idstring=uuid.uuid4().hex[:12], domain=mail_domain()),
        created_at=now,
        next_attempt_at=now,
    )
    enqueue_on_commit(EMAIL_DELIVER_TASK, email.pk)
    return email


# A row still "sending" this long after its claim belongs to a worker that died mid-send.
STUCK_SENDING_SECONDS = 300


def outbox_due(*, now: datetime.datetime, limit: int = 500, grace_seconds: int = 5) -> list[int]:
    """Outbox rows to (re)deliver: pending and due for `grace_seconds` (the task enqueued on
    commit delivers a fresh row within a second; re-enqueueing it on every sweep only made
    duplicate tasks), or abandoned mid-send by a dead worker."""
    stuck = now - datetime.timedelta(seconds=STUCK_SENDING_SECONDS)
    OutboundEmail.objects.filter(state=OutboundEmail.State.SENDING, claimed_at__lt=stuck).update(
        state=OutboundEmail.State.PENDING
    )
    due = now - datetime.timedelta(seconds=grace_seconds)
    return list(
        OutboundEmail.objects.filter(
            state=OutboundEmail.State.PENDING, next_attempt_at__lte=due
        ).values_list("pk", flat=True)[:limit]
    )
