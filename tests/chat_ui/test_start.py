"""The customer's "start a chat" page: a chat ticket through chat_start, or a 4xx and nothing."""

import pytest
from django.urls import reverse

from chat.models import Chat
from tests import factories
from tickets.models import Channel, Message, Ticket

URL = reverse("chat:start")


def test_anonymous_is_sent_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_page_asks_for_a_message_and_promises_a_reply(client, customer):
    client.force_login(customer)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="body"' in html and 'name="subject"' in html
    assert "within 1 minute" in html


def test_a_chat_opens_and_its_conversation_page_follows(client, customer):
    client.force_login(customer)
    response = client.post(URL, {"subject": "", "body": "My VPS does not answer."})
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response.url == f"/tickets/{ticket.pk}/#conversation-title"
    assert ticket.channel == Channel.CHAT and ticket.customer == customer
    assert ticket.subject == "Live chat"
    assert Chat.objects.filter(ticket=ticket, settled_at__isnull=True).exists()
    assert list(ticket.messages.values_list("body", "kind")) == [
        ("My VPS does not answer.", Message.Kind.CUSTOMER)
    ]


@pytest.mark.parametrize(
    "data",
    [
        {"subject": "", "body": ""},
        {"subject": "", "body": "   "},
        {"subject": "x" * 201, "body": "Hello"},
        {"body": "x" * 20001},
        {},
    ],
    ids=["empty", "blank", "subject-too-long", "body-too-long", "nothing"],
)
def test_bad_input_is_refused_and_nothing_is_written(client, customer, data):
    client.force_login(customer)
    response = client.post(URL, data)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert not Ticket.objects.exists() and not Chat.objects.exists()


def test_staff_do_not_start_chats(client, agent):
    client.force_login(agent)
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"body": "Hello"})
    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_the_ticket_page_carries_the_live_conversation(client, customer):
    ticket = factories.make_ticket(customer=customer, channel=Channel.CHAT)
    client.force_login(customer)
    html = client.get(reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})).content.decode()
    assert f'data-chat-socket="/ws/conversations/{ticket.pk}/"' in html
    assert 'data-chat-form=".reply-box form"' in html
    assert "/static/js/chat.js" in html
    # The plain form is still there for browsers without JavaScript or sockets.
    assert 'name="body"' in html and f'action="/tickets/{ticket.pk}/"' in html


def test_the_way_in_for_customers_and_agents(client, customer, agent):
    assert 'href="/chat/"' in client.get("/").content.decode()
    client.force_login(agent)
    assert f'href="{reverse("chat_console:console")}"' in client.get("/admin/").content.decode()
