"""Starting a chat (`POST /api/v1/chats/`) and the wait for an agent: a chat nobody takes
within CHAT_WAIT_SECONDS continues as a ticket by email, once."""

import datetime
from unittest import mock

import pytest
import time_machine
from django.utils import timezone, translation
from rest_framework.test import APIClient

from chat.models import Chat
from chat.services import chats_fall_back
from chat.tasks import fallback_sweep
from tests import factories
from tests.chat.conftest import token_of
from tickets.models import Channel, Event, Message, OutboundEmail, Status, Ticket
from usecases.chat import chat_start
from usecases.tickets import ticket_confirm, ticket_reply, ticket_resolve

pytestmark = pytest.mark.postgres

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(user)}")
    return client


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Ticket, Message, Chat, OutboundEmail)}


# --- POST /api/v1/chats/ ---------------------------------------------------------------------


def test_a_customer_opens_a_chat(customer_a):
    response = api(customer_a).post(
        "/api/v1/chats/", {"body": "My VPS is down", "category": "vps"}, format="json"
    )
    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    assert response.json() == {"ticket": ticket.pk, "websocket": f"/ws/conversations/{ticket.pk}/"}
    assert ticket.channel == Channel.CHAT
    assert ticket.subject == "Live chat"
    assert ticket.category == "vps"
    assert ticket.messages.get().body == "My VPS is down"
    assert Chat.objects.get(ticket=ticket).settled_at is None


def test_a_customer_continues_a_ticket_in_chat_in_the_same_thread(customer_a):
    ticket = factories.make_ticket(customer=customer_a)
    response = api(customer_a).post(
        "/api/v1/chats/", {"ticket": ticket.pk, "body": "Still down"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["ticket"] == ticket.pk
    assert list(ticket.messages.values_list("channel", flat=True)) == ["web", "chat"]
    ticket.refresh_from_db()
    assert ticket.channel == Channel.WEB
    # Without a body it only starts waiting for an agent.
    response = api(customer_a).post("/api/v1/chats/", {"ticket": ticket.pk}, format="json")
    assert response.status_code == 201
    assert ticket.messages.count() == 2


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({}, 400, "body"),
        ({"body": "   "}, 400, "body"),
        ({"body": "x" * 4001}, 400, "body"),
        ({"body": "hi", "category": "nonsense"}, 400, "category"),
        ({"body": "hi", "subject": "s" * 201}, 400, "subject"),
        ({"ticket": "abc"}, 400, "ticket"),
        ({"ticket": 2**70}, 400, "ticket"),
        ([1, 2], 400, None),
        ({"ticket": 999999}, 404, None),
    ],
)
def test_bad_input_is_a_4xx_and_writes_nothing(customer_a, payload, status, field):
    before = counts()
    response = api(customer_a).post("/api/v1/chats/", payload, format="json")
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["code"]
    if field:
        assert field in body["errors"]
    assert counts() == before


def test_another_customers_ticket_is_404_and_a_closed_one_409(customer_a, customer_b, agent):
    ticket = factories.make_ticket(customer=customer_a)
    assert (
        api(customer_b).post("/api/v1/chats/", {"ticket": ticket.pk}, format="json").status_code
        == 404
    )
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Fixed", now=timezone.now())
    ticket_confirm(ticket_id=ticket.pk, customer=customer_a, now=timezone.now())
    response = api(customer_a).post(
        "/api/v1/chats/", {"ticket": ticket.pk, "body": "again"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "ticket_closed"
    assert not Chat.objects.exists()


def test_staff_and_anonymous_do_not_start_chats(agent):
    before = counts()
    assert api().post("/api/v1/chats/", {"body": "hi"}, format="json").status_code == 401
    response = api(agent).post("/api/v1/chats/", {"body": "hi"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert counts() == before


# --- The wait for an agent -------------------------------------------------------------------


def start_chat(customer, *, at=T0) -> Ticket:
    with time_machine.travel(at, tick=False):
        return chat_start(customer=customer, now=timezone.now(), body="Anyone?")


def test_a_chat_nobody_takes_continues_by_email_once(settings, customer_a):
    settings.CHAT_WAIT_SECONDS = 300
    ticket = start_chat(customer_a)
    just_before = T0 + datetime.timedelta(seconds=299)
    with time_machine.travel(just_before, tick=False):
        assert chats_fall_back(now=timezone.now()) == []
    at = T0 + datetime.timedelta(seconds=300)
    with time_machine.travel(at, tick=False):
        assert chats_fall_back(now=timezone.now()) == [ticket.pk]
        assert chats_fall_back(now=timezone.now()) == []
    notice = ticket.messages.get(kind=Message.Kind.SYSTEM)
    assert notice.author is None
    assert notice.created_at == at
    assert ticket.reference in notice.body
    assert "by email" in notice.body
    assert customer_a.email in notice.body
    email = OutboundEmail.objects.get(ticket=ticket)
    assert email.message == notice
    assert email.to == customer_a.email
    assert email.in_reply_to == f"<{ticket.reference}@introserv.com>"
    chat = Chat.objects.get(ticket=ticket)
    assert (chat.settled_at, chat.outcome) == (at, Chat.Outcome.EMAIL)
    assert Event.objects.filter(ticket=ticket, action="chat_continued_by_email").count() == 1


def test_the_notice_and_the_email_are_in_the_customers_language(settings, structure):
    settings.CHAT_WAIT_SECONDS = 60
    customer = factories.make_customer(language="it")
    ticket = start_chat(customer)
    with (
        time_machine.travel(T0 + datetime.timedelta(minutes=5), tick=False),
        mock.patch("chat.services.translation.override", wraps=translation.override) as override,
    ):
        assert fallback_sweep() == 1
    override.assert_any_call("it")
    email = OutboundEmail.objects.get(ticket=ticket)
    assert email.purpose == "chat_by_email"
    assert email.body_text.startswith("Gentile ")


def test_a_chat_an_agent_answered_is_settled_quietly(settings, customer_a, agent):
    settings.CHAT_WAIT_SECONDS = 300
    ticket = start_chat(customer_a)
    with time_machine.travel(T0 + datetime.timedelta(seconds=120), tick=False):
        ticket_reply(
            ticket_id=ticket.pk, author=agent, body="Hi!", channel=Channel.CHAT, now=timezone.now()
        )
    emails = OutboundEmail.objects.count()
    with time_machine.travel(T0 + datetime.timedelta(seconds=400), tick=False):
        assert chats_fall_back(now=timezone.now()) == []
    assert Chat.objects.get(ticket=ticket).outcome == Chat.Outcome.TAKEN
    assert not ticket.messages.filter(kind=Message.Kind.SYSTEM).exists()
    assert OutboundEmail.objects.count() == emails


def test_an_internal_note_does_not_take_the_chat(settings, customer_a, agent):
    settings.CHAT_WAIT_SECONDS = 300
    ticket = start_chat(customer_a)
    with time_machine.travel(T0 + datetime.timedelta(seconds=60), tick=False):
        ticket_reply(
            ticket_id=ticket.pk,
            author=agent,
            body="who is on?",
            channel=Channel.CHAT,
            now=timezone.now(),
            internal=True,
        )
    with time_machine.travel(T0 + datetime.timedelta(seconds=300), tick=False):
        assert chats_fall_back(now=timezone.now()) == [ticket.pk]


def test_continuing_in_chat_waits_again_from_then(settings, customer_a):
    settings.CHAT_WAIT_SECONDS = 300
    ticket = start_chat(customer_a)
    with time_machine.travel(T0 + datetime.timedelta(seconds=300), tick=False):
        chats_fall_back(now=timezone.now())
    later = T0 + datetime.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        chat_start(customer=customer_a, now=timezone.now(), ticket_id=ticket.pk)
    # Asking again while waiting does not push the wait back.
    with time_machine.travel(later + datetime.timedelta(seconds=100), tick=False):
        chat_start(customer=customer_a, now=timezone.now(), ticket_id=ticket.pk, body="hello?")
    assert Chat.objects.get(ticket=ticket).started_at == later
    with time_machine.travel(later + datetime.timedelta(seconds=300), tick=False):
        assert chats_fall_back(now=timezone.now()) == [ticket.pk]
    assert ticket.messages.filter(kind=Message.Kind.SYSTEM).count() == 2


def test_a_chat_whose_ticket_moved_on_is_settled_quietly(settings, customer_a):
    settings.CHAT_WAIT_SECONDS = 300
    ticket = start_chat(customer_a)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.PENDING_APPROVAL)
    with time_machine.travel(T0 + datetime.timedelta(seconds=300), tick=False):
        assert chats_fall_back(now=timezone.now()) == []
    assert Chat.objects.get(ticket=ticket).outcome == Chat.Outcome.TAKEN
