"""Email out: the outbox delivered over real SMTP to a relay started here (the outside mail
server, which is not part of the product), read back as the customer's mail program would."""

import base64
import datetime
import email
import email.policy
import json

import pytest
import redis
import time_machine
from aiosmtpd.controller import Controller
from django.conf import settings

from mailin import filing as email_in
from sla.services.acknowledgement import acknowledgement_send
from teams.models import Team
from tests.factories import make_agent, make_customer, make_ticket
from tests.mailin.mails import mail, message_id
from tests.processes import free_port
from tickets import notifications, tasks
from tickets.models import Message, OutboundEmail, Status
from tickets.reply_address import reply_address_for
from usecases.tickets import ticket_reply, ticket_resolve

T0 = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("structure")]


class RelayHandler:
    """Accepts everything (or answers `refusal` to DATA) and keeps what it accepted."""

    def __init__(self):
        self.received: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusal: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.refusal:
            return self.refusal
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 2.0.0 Queued"


@pytest.fixture
def relay(settings):
    """An SMTP relay on a free port, and Django's SMTP backend pointed at it."""
    handler = RelayHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield handler
    controller.stop()


def support():
    return Team.objects.get(slug="support")


def deliver(outbox: OutboundEmail, now: datetime.datetime = T0) -> bool:
    return notifications.email_deliver(outbound_id=outbox.pk, now=now)


def parts(received: email.message.EmailMessage) -> dict[str, str]:
    assert received.get_content_type() == "multipart/alternative"
    return {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in received.iter_parts()
    }


# --- Headers, parts, language ----------------------------------------------------------------


def test_the_acknowledgement_of_an_emailed_request_threads_on_the_customers_email(relay):
    customer = make_customer(username="mario")
    first = message_id()
    ticket = email_in.email_receive(raw=mail(sender=customer.email, msgid=first), now=T0).ticket
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    outbox = OutboundEmail.objects.get(ticket=ticket)

    assert deliver(outbox) is True

    [received] = relay.received
    assert relay.envelopes == [("support@introserv.com", [customer.email])]
    # (A long Message-ID is folded onto its own line: the parsed value keeps the space.)
    assert received["Message-ID"].strip() == outbox.rfc_message_id
    assert received["In-Reply-To"] == first
    assert received["References"] == f"<{ticket.reference}@introserv.com> {first}"
    assert received["Subject"] == f"[{ticket.reference}] My server does not boot"
    assert received["From"] == "INTROSERV Support <support@introserv.com>"
    assert received["Reply-To"] == reply_address_for(ticket_id=ticket.pk, user_id=customer.pk)
    assert received["To"] == customer.email
    assert received["Auto-Submitted"] == "auto-replied"
    assert received["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    text, html = parts(received).values()
    for body in (text, html):
        assert ticket.reference in body and "We have received your request" in body
        assert "within 10 minutes" in body
    assert '<html lang="en">' in html
    outbox.refresh_from_db()
    assert (outbox.state, outbox.sent_at, outbox.attempts) == ("sent", T0, 1)


def test_an_agent_reply_reaches_the_customer_in_the_thread_without_auto_headers(relay):
    ticket = make_ticket(now=T0, subject="Disk full")
    agent = make_agent(teams=(support(),))
    reply, _new = ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body="We freed 20 GB.\nPlease check.",
        channel="web",
        now=T0,
    )
    outbox = OutboundEmail.objects.get(message=reply)

    deliver(outbox)

    [received] = relay.received
    assert received["Subject"] == f"[{ticket.reference}] Disk full"
    # A web ticket has no email of the customer yet: the thread's own id is the parent.
    assert (
        received["In-Reply-To"] == received["References"] == f"<{ticket.reference}@introserv.com>"
    )
    assert received["Auto-Submitted"] is None
    text, html = parts(received).values()
    assert "We freed 20 GB.\nPlease check." in text
    assert "We freed 20 GB.<br>Please check." in html
    assert "New reply to your request" in text


def test_the_resolution_and_status_notices_are_emailed(relay):
    ticket = make_ticket(now=T0)
    agent = make_agent(teams=(support(),))
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Replaced the disk.", now=T0)
    ticket.refresh_from_db()
    notice = Message.objects.create(
        ticket=ticket, kind="system", channel="web", body="Still on it.", created_at=T0
    )
    notifications.email_queue(ticket=ticket, message=notice, purpose="status", now=T0)

    for outbox in OutboundEmail.objects.order_by("id"):
        deliver(outbox)

    resolution, status = relay.received
    assert "Your request has been resolved" in resolution.get_body(("plain",)).get_content()
    assert "Replaced the disk." in resolution.get_body(("html",)).get_content()
    assert resolution["Auto-Submitted"] is None
    assert "Your request has a new status" in status.get_body(("plain",)).get_content()
    assert status["Auto-Submitted"] == "auto-generated"
    assert str(Status.RESOLVED.label) in status.get_body(("plain",)).get_content()


def test_an_italian_customer_gets_italian_email(relay):
    customer = make_customer(username="lucia", language="it", first_name="Lucia")
    ticket = make_ticket(customer=customer, now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)

    deliver(OutboundEmail.objects.get(ticket=ticket))

    text, html = parts(relay.received[0]).values()
    assert '<html lang="it">' in html
    for body in (text, html):
        assert "Gentile Lucia," in body
        assert "Abbiamo ricevuto la vostra richiesta" in body


def test_text_written_by_people_is_inert_in_the_html_part(relay):
    customer = make_customer(username="mallory", first_name="<b>Mallory</b>")
    ticket = make_ticket(customer=customer, now=T0, subject="<script>alert('subject')</script>")
    agent = make_agent(teams=(support(),))
    ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body='Try <script>alert("body")</script> <img src=x onerror=alert(1)>',
        channel="web",
        now=T0,
    )

    deliver(OutboundEmail.objects.get(ticket=ticket, purpose="reply"))

    text, html = parts(relay.received[0]).values()
    assert "<script" not in html and "<img" not in html and "<b>Mallory" not in html
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&quot;body&quot;)&lt;/script&gt;" in html
    # Plain text is not HTML: it carries the words as written.
    assert '<script>alert("body")</script>' in text


def test_internal_notes_never_reach_the_customer(relay):
    ticket = make_ticket(now=T0)
    agent = make_agent(teams=(support(),))
    note, _new = ticket_reply(
        ticket_id=ticket.pk, author=agent, body="VIP, be nice", channel="web", now=T0, internal=True
    )
    ticket_reply(ticket_id=ticket.pk, author=agent, body="On it.", channel="web", now=T0)

    for outbox in OutboundEmail.objects.all():
        deliver(outbox)

    [received] = relay.received
    assert (
        "VIP" not in received.as_string()
        and "On it." in received.get_body(("plain",)).get_content()
    )
    with pytest.raises(ValueError, match="internal note"):
        notifications.email_queue(ticket=ticket, message=note, purpose="reply", now=T0)


# --- Sent by the task after commit, retried, never twice -------------------------------------


def test_the_delivery_task_is_enqueued_only_after_commit(django_capture_on_commit_callbacks):
    ticket = make_ticket(now=T0)
    agent = make_agent(teams=(support(),))
    broker = redis.Redis.from_url(settings.REDIS_URL)
    # Tasks left by earlier tests may name the same row id (SQLite reuses ids between tests).
    broker.delete(settings.CELERY_TASK_DEFAULT_QUEUE)

    def enqueued(outbox_id: int) -> bool:
        for raw in broker.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
            task = json.loads(raw)
            args = json.loads(base64.b64decode(task["body"]))[0]
            if task["headers"]["task"] == "tickets.email_deliver" and args == [outbox_id]:
                return True
        return False

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        reply, _new = ticket_reply(
            ticket_id=ticket.pk, author=agent, body="On it.", channel="web", now=T0
        )
        outbox = OutboundEmail.objects.get(message=reply)
        assert not enqueued(outbox.pk)

    assert callbacks and enqueued(outbox.pk)
    assert outbox.state == "pending"


def test_the_sweep_leaves_a_fresh_row_to_its_own_task_and_redelivers_a_lost_one(relay):
    ticket = make_ticket(now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    outbox = OutboundEmail.objects.get(ticket=ticket)

    assert notifications.outbox_due(now=T0 + datetime.timedelta(seconds=4)) == []
    assert notifications.outbox_due(now=T0 + datetime.timedelta(seconds=5)) == [outbox.pk]


def test_a_refused_send_is_retried_after_a_backoff_and_then_sent_once(relay):
    ticket = make_ticket(now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    outbox = OutboundEmail.objects.get(ticket=ticket)
    relay.refusal = "451 4.3.0 Try again later"

    with time_machine.travel(T0, tick=False):
        assert tasks.email_deliver(outbox.pk) is False
    outbox.refresh_from_db()
    assert (outbox.state, outbox.attempts) == ("pending", 1)
    assert outbox.next_attempt_at == T0 + datetime.timedelta(seconds=60)
    assert "451" in outbox.last_error and relay.received == []

    relay.refusal = None
    with time_machine.travel(T0 + datetime.timedelta(seconds=59), tick=False):
        assert tasks.email_deliver(outbox.pk) is False  # not due yet: nothing is tried
    outbox.refresh_from_db()
    assert outbox.attempts == 1 and relay.received == []

    with time_machine.travel(T0 + datetime.timedelta(seconds=60), tick=False):
        assert tasks.email_deliver(outbox.pk) is True
        assert tasks.email_deliver(outbox.pk) is False  # a second delivery sends nothing
    outbox.refresh_from_db()
    assert (outbox.state, outbox.attempts) == ("sent", 2)
    assert len(relay.received) == 1


def test_a_closed_smtp_server_leaves_the_row_pending_and_gives_up_after_the_last_attempt(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    ticket = make_ticket(now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    outbox = OutboundEmail.objects.get(ticket=ticket)

    now = T0
    for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
        assert deliver(outbox, now) is False
        outbox.refresh_from_db()
        assert outbox.attempts == attempt and "ConnectionRefusedError" in outbox.last_error
        backoff = datetime.timedelta(seconds=notifications.RETRY_BACKOFF_SECONDS * 2**attempt)
        assert outbox.next_attempt_at == now + backoff
        now = outbox.next_attempt_at
        expected = "failed" if attempt == notifications.MAX_ATTEMPTS else "pending"
        assert outbox.state == expected

    assert deliver(outbox, now + datetime.timedelta(days=1)) is False
    outbox.refresh_from_db()
    assert outbox.attempts == notifications.MAX_ATTEMPTS
