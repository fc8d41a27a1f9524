"""Replies in a live chat are not emailed one by one: the customer reads them live. Those left
unread CHAT_UNREAD_EMAIL_SECONDS after the first are emailed together, once per batch, quoted,
in the customer's language and time zone, threaded on the ticket. Other tickets keep an email
per reply."""

import datetime
import threading

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Chat
from chat.services import chats_fall_back, chats_unread_email, read_mark
from chat.tasks import fallback_sweep
from tests import factories
from tests.chat.conftest import joined, until_presence
from tickets import notifications
from tickets.models import Channel, Message, OutboundEmail, Ticket
from usecases.chat import chat_start
from usecases.tickets import ticket_reply, ticket_resolve

pytestmark = pytest.mark.postgres

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
DELAY = 120


@pytest.fixture(autouse=True)
def unread_delay(settings):
    settings.CHAT_UNREAD_EMAIL_SECONDS = DELAY
    settings.CHAT_WAIT_SECONDS = 300


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def start_chat(customer, *, ticket_id=None) -> Ticket:
    with time_machine.travel(T0, tick=False):
        return chat_start(
            customer=customer, now=timezone.now(), body="Anyone?", ticket_id=ticket_id
        )


def say(ticket: Ticket, author, body: str, *, when: float, channel=Channel.CHAT) -> Message:
    with time_machine.travel(at(when), tick=False):
        message, _new = ticket_reply(
            ticket_id=ticket.pk, author=author, body=body, channel=channel, now=timezone.now()
        )
    return message


def sweep(when: float) -> list[int]:
    with time_machine.travel(at(when), tick=False):
        return chats_unread_email(now=timezone.now())


def emails(ticket: Ticket, purpose: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(ticket=ticket, purpose=purpose).order_by("id"))


# --- One email for the replies left unread ----------------------------------------------------


def test_unread_replies_are_emailed_together_once_the_delay_has_passed(customer_a, agent):
    ticket = start_chat(customer_a)
    first = say(ticket, agent, "Hi Alice, I am looking at it.", when=10)
    second = say(ticket, agent, "Your VPS is back.\nPlease check.", when=40)
    assert emails(ticket, "reply") == []
    assert Chat.objects.get(ticket=ticket).unread_email_due_at == at(10 + DELAY)

    assert sweep(10 + DELAY - 1) == []
    assert sweep(10 + DELAY) == [ticket.pk]
    assert sweep(10 + DELAY) == []
    assert sweep(3600) == []

    [email] = emails(ticket, "unread_replies")
    assert email.to == customer_a.email
    assert email.message is None
    assert email.subject == f"[{ticket.reference}] Live chat"
    assert email.in_reply_to == notifications.thread_id(ticket)
    assert "You have unread replies in your chat" in email.body_text
    assert "These 2 replies are waiting for you:" in email.body_text
    assert first.body in email.body_text and second.body in email.body_text
    assert email.body_text.index(first.body) < email.body_text.index(second.body)
    assert "Your VPS is back.<br>Please check." in email.body_html
    # Who and when, in the customer's zone (Europe/Rome: 10:00 UTC is 11:00), as the portal.
    assert "giulia, INTROSERV support, 2 Mar 2026, 11:00:\nHi Alice" in email.body_text
    chat = Chat.objects.get(ticket=ticket)
    assert (chat.unread_email_due_at, chat.unread_emailed_message_id) == (None, second.pk)


def test_replies_the_customer_read_are_not_emailed(customer_a, agent):
    ticket = start_chat(customer_a)
    reply = say(ticket, agent, "Done.", when=10)
    read_mark(user=customer_a, ticket_id=ticket.pk, message_id=reply.pk, now=at(12))

    assert sweep(10 + DELAY) == []
    assert emails(ticket, "unread_replies") == []
    assert Chat.objects.get(ticket=ticket).unread_email_due_at is None


def test_only_the_replies_after_the_read_mark_are_quoted(customer_a, agent):
    ticket = start_chat(customer_a)
    read = say(ticket, agent, "First answer.", when=10)
    say(ticket, agent, "Second answer.", when=20)
    read_mark(user=customer_a, ticket_id=ticket.pk, message_id=read.pk, now=at(15))

    # The first unread reply is due at 20 + DELAY: the earlier due time only looks again.
    assert sweep(10 + DELAY) == []
    assert sweep(20 + DELAY) == [ticket.pk]
    [email] = emails(ticket, "unread_replies")
    assert "Second answer." in email.body_text
    assert "First answer." not in email.body_text
    assert "This reply is waiting for you:" in email.body_text


def test_the_customers_own_later_message_counts_as_read(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "Can you reboot it?", when=10)
    say(ticket, customer_a, "Rebooted.", when=30)

    assert sweep(10 + DELAY) == []
    assert emails(ticket, "unread_replies") == []


def test_each_batch_of_unread_replies_gets_one_email(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "One.", when=10)
    say(ticket, agent, "Two.", when=100)  # joins the email due at 10 + DELAY
    assert sweep(10 + DELAY) == [ticket.pk]
    say(ticket, agent, "Three.", when=200)
    assert Chat.objects.get(ticket=ticket).unread_email_due_at == at(200 + DELAY)

    assert sweep(200 + DELAY) == [ticket.pk]
    first, second = emails(ticket, "unread_replies")
    assert "One." in first.body_text and "Two." in first.body_text
    assert "Three." not in first.body_text
    assert "Three." in second.body_text
    assert "One." not in second.body_text and "Two." not in second.body_text


def test_internal_notes_are_never_quoted(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "Public.", when=10)
    with time_machine.travel(at(20), tick=False):
        ticket_reply(
            ticket_id=ticket.pk,
            author=agent,
            body="Secret note.",
            channel=Channel.CHAT,
            now=timezone.now(),
            internal=True,
        )
    sweep(10 + DELAY)
    [email] = emails(ticket, "unread_replies")
    assert "Secret note." not in email.body_text + email.body_html


def test_the_email_is_in_the_customers_language_and_time_zone(structure, agent):
    customer = factories.make_customer(language="it", first_name="Lucia")  # Europe/Rome
    ticket = start_chat(customer)
    say(ticket, agent, "<b>Ciao</b> Lucia", when=120)
    sweep(120 + DELAY)
    [email] = emails(ticket, "unread_replies")
    assert email.body_text.startswith("Gentile Lucia,")
    assert '<html lang="it">' in email.body_html
    assert "2 Mar 2026, 11:02" in email.body_text
    assert "&lt;b&gt;Ciao&lt;/b&gt; Lucia" in email.body_html
    assert "<b>Ciao</b>" not in email.body_html


def test_the_beat_sweep_sends_it(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "Hello.", when=10)
    read_mark(
        user=customer_a, ticket_id=ticket.pk, message_id=ticket.messages.last().pk, now=at(11)
    )
    # The chat was taken: the fallback part of the sweep has nothing to do.
    with time_machine.travel(at(400), tick=False):
        assert fallback_sweep() == 0
    say(ticket, agent, "Anything else?", when=500)
    with time_machine.travel(at(500 + DELAY), tick=False):
        assert fallback_sweep() == 1
    assert len(emails(ticket, "unread_replies")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_customer_with_the_page_open_reads_live_and_gets_no_email(customer_a, agent):
    ticket = chat_start(customer=customer_a, now=timezone.now(), body="Anyone?")

    async def scenario():
        customer = await joined(ticket.pk, customer_a)
        await until_presence(customer)
        staff = await joined(ticket.pk, agent)
        await until_presence(staff)
        await staff.say("Hi, I am here.")
        frame = await customer.frame_of("message")
        # What chat.js does with an incoming message while the page is in view.
        await customer.send({"type": "read", "message": frame["message"]["id"]})
        await staff.frame_of("read")
        await customer.close()
        await staff.close()

    async_to_sync(scenario)()
    later = timezone.now() + datetime.timedelta(seconds=DELAY + 1)
    assert chats_unread_email(now=later) == []
    assert (
        OutboundEmail.objects.filter(ticket=ticket).exclude(purpose="acknowledgement").count() == 0
    )


# --- Which conversations are chats ------------------------------------------------------------


def test_replies_on_a_web_ticket_are_emailed_one_by_one(customer_a, agent):
    ticket = factories.make_ticket(customer=customer_a, now=T0)
    first = say(ticket, agent, "One.", when=10, channel=Channel.WEB)
    # Written from a live ticket page, a line is still a reply on a web ticket.
    second = say(ticket, agent, "Two.", when=20)
    assert [e.message for e in emails(ticket, "reply")] == [first, second]
    assert not Chat.objects.filter(ticket=ticket).exists()


def test_a_ticket_continued_in_chat_is_a_chat_until_the_customer_writes_by_email(customer_a, agent):
    ticket = factories.make_ticket(customer=customer_a, now=T0, channel=Channel.EMAIL)
    start_chat(customer_a, ticket_id=ticket.pk)
    say(ticket, agent, "From the console.", when=10)
    say(ticket, agent, "From the ticket page.", when=20, channel=Channel.WEB)
    assert emails(ticket, "reply") == []

    say(ticket, customer_a, "I am on my phone now, answering your email.", when=60, channel="email")
    answer = say(ticket, agent, "Got it.", when=70)
    assert [e.message for e in emails(ticket, "reply")] == [answer]


def test_a_chat_that_fell_back_to_email_gets_each_reply_by_email(customer_a, agent):
    ticket = start_chat(customer_a)
    with time_machine.travel(at(300), tick=False):
        assert chats_fall_back(now=timezone.now()) == [ticket.pk]
    answer = say(ticket, agent, "Sorry for the wait.", when=900)
    assert [e.message for e in emails(ticket, "reply")] == [answer]
    assert len(emails(ticket, "chat_by_email")) == 1


def test_a_ticket_opened_in_chat_without_a_wait_is_taken_by_the_first_reply(customer_a, agent):
    ticket = factories.make_ticket(customer=customer_a, now=T0, channel=Channel.CHAT)
    say(ticket, agent, "Hello.", when=30)
    chat = Chat.objects.get(ticket=ticket)
    assert (chat.started_at, chat.settled_at, chat.outcome) == (T0, at(30), Chat.Outcome.TAKEN)
    assert chat.unread_email_due_at == at(30 + DELAY)
    assert emails(ticket, "reply") == []


def test_the_resolution_is_emailed_at_once_and_not_quoted_again(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "Rebooting the host.", when=10)
    with time_machine.travel(at(20), tick=False):
        ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Host replaced.", now=at(20))
    assert len(emails(ticket, "resolution")) == 1

    sweep(10 + DELAY)
    [email] = emails(ticket, "unread_replies")
    assert "Rebooting the host." in email.body_text
    assert "Host replaced." not in email.body_text


def test_an_agent_line_writes_nothing_to_the_outbox(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "First.", when=10)  # the chat row is there from now on
    with CaptureQueriesContext(connection) as queries:
        say(ticket, agent, "Second.", when=20)
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("tickets_outboundemail" in sql for sql in statements)
    assert sum('UPDATE "chat_chat"' in sql for sql in statements) == 1


# --- Once, whatever the sweeps do -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_sweeps_email_once(customer_a, agent):
    ticket = start_chat(customer_a)
    say(ticket, agent, "Hello.", when=10)
    start = threading.Barrier(6)
    results, errors = [], []

    def run():
        try:
            start.wait(timeout=30)
            results.append(chats_unread_email(now=at(10 + DELAY)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(results) == [[]] * 5 + [[ticket.pk]]
    assert len(emails(ticket, "unread_replies")) == 1
