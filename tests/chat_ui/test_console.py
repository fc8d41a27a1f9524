"""The agents' chat console: staff only, my teams' waiting chats with their wait, taking a chat,
conversations side by side, a constant number of queries."""

import datetime
import html as html_module
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories
from tests.chat_ui.conftest import T0, open_chat
from tickets.models import Channel, Status, Ticket
from usecases.tickets import ticket_assign, ticket_reply, ticket_resolve

CONSOLE = reverse("chat_console:console")
QUEUE = reverse("chat_console:queue")


def pane_url(ticket) -> str:
    return reverse("chat_console:pane", kwargs={"ticket_id": ticket.pk})


def take_url(ticket) -> str:
    return reverse("chat_console:take", kwargs={"ticket_id": ticket.pk})


def waiting(client) -> list[Ticket]:
    response = client.get(CONSOLE)
    assert response.status_code == 200
    return [row["ticket"] for row in response.context["rows"]]


# --- Who gets in ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_only_staff_reach_the_console(client, customer, who):
    chat = open_chat(customer)
    if who == "customer":
        client.force_login(customer)
    for url in (CONSOLE, QUEUE, pane_url(chat)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("admin:login"))
    response = client.post(take_url(chat))
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.assignee is None


def test_an_agent_sees_only_the_chats_of_their_teams(
    client, customer, agent, billing_agent, structure
):
    support_chat = open_chat(customer)
    billing_chat = open_chat(customer)
    Ticket.objects.filter(pk=billing_chat.pk).update(team=structure["billing"])

    client.force_login(agent)
    assert waiting(client) == [support_chat]
    assert client.get(pane_url(billing_chat)).status_code == 404
    assert client.post(take_url(billing_chat)).status_code == 404

    client.force_login(billing_agent)
    assert waiting(client) == [billing_chat]
    assert client.get(pane_url(support_chat)).status_code == 404


def test_a_manager_of_no_team_watches_every_team(client, customer, structure):
    manager = factories.make_agent(manager=True)
    support_chat = open_chat(customer)
    billing_chat = open_chat(customer)
    Ticket.objects.filter(pk=billing_chat.pk).update(team=structure["billing"])
    client.force_login(manager)
    assert set(waiting(client)) == {support_chat, billing_chat}


# --- What waits -------------------------------------------------------------------------------


def test_what_counts_as_waiting(client, customer, agent, clock):
    now = T0
    fresh = open_chat(customer, now=now)
    answered_unassigned = open_chat(customer, now=now)
    ticket_reply(
        ticket_id=answered_unassigned.pk, author=agent, body="Hi!", channel=Channel.CHAT, now=now
    )
    taken_unanswered = open_chat(customer, now=now)
    ticket_assign(ticket_id=taken_unanswered.pk, actor=agent, assignee_id=None, now=now)
    taken_answered = open_chat(customer, now=now)
    ticket_assign(ticket_id=taken_answered.pk, actor=agent, assignee_id=None, now=now)
    ticket_reply(
        ticket_id=taken_answered.pk, author=agent, body="Hi!", channel=Channel.CHAT, now=now
    )
    resolved = open_chat(customer, now=now)
    ticket_resolve(ticket_id=resolved.pk, actor=agent, summary="Done.", now=now)
    factories.make_ticket(customer=customer, channel=Channel.WEB, now=now)
    # An internal note is no answer to the customer.
    noted = open_chat(customer, now=now)
    ticket_assign(ticket_id=noted.pk, actor=agent, assignee_id=None, now=now)
    ticket_reply(
        ticket_id=noted.pk,
        author=agent,
        body="Checking",
        channel=Channel.CHAT,
        internal=True,
        now=now,
    )

    client.force_login(agent)
    assert set(waiting(client)) == {fresh, answered_unassigned, taken_unanswered, noted}


def test_the_wait_counts_from_the_first_unanswered_message(client, customer, agent, clock):
    chat = open_chat(customer, now=T0)
    clock.move_to(T0 + datetime.timedelta(minutes=3))
    client.force_login(agent)
    response = client.get(CONSOLE)
    (row,) = response.context["rows"]
    assert row["waited"] == "3 min"
    assert f'data-since="{T0.isoformat()}"' in response.content.decode()

    # Answered, then the customer writes again: the wait starts over from that message.
    ticket_reply(
        ticket_id=chat.pk,
        author=agent,
        body="Hello!",
        channel=Channel.CHAT,
        now=T0 + datetime.timedelta(minutes=4),
    )
    Ticket.objects.filter(pk=chat.pk).update(assignee=None)
    again = T0 + datetime.timedelta(minutes=10)
    ticket_reply(
        ticket_id=chat.pk, author=customer, body="Still broken", channel=Channel.CHAT, now=again
    )
    clock.move_to(again + datetime.timedelta(minutes=2))
    (row,) = client.get(CONSOLE).context["rows"]
    assert row["ticket"].waiting_since == again
    assert row["waited"] == "2 min"
    assert row["ticket"].last_customer_words == "Still broken"


def test_the_queue_fragment_lists_the_same_rows(client, customer, agent):
    chat = open_chat(customer, body="<script>alert(1)</script>")
    client.force_login(agent)
    response = client.get(QUEUE)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-ticket="{chat.pk}"' in html and take_url(chat) in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<html" not in html


# --- Taking and opening -----------------------------------------------------------------------


def test_take_assigns_and_opens_the_conversation(client, customer, agent):
    chat = open_chat(customer)
    client.force_login(agent)
    response = client.post(take_url(chat))
    assert response.status_code == 302 and response.url == f"{CONSOLE}?open={chat.pk}"
    chat.refresh_from_db()
    assert chat.assignee == agent and chat.status == Status.OPEN

    page = client.get(response.url)
    assert [pane["ticket"] for pane in page.context["panes"]] == [chat]
    html = page.content.decode()
    assert f'data-chat-socket="/ws/conversations/{chat.pk}/"' in html
    assert 'name="visibility"' in html and 'value="internal"' in html
    # Still unanswered: it stays in the waiting list, without a Take button for its taker.
    assert take_url(chat) not in html


def test_take_from_the_console_script_answers_json(client, customer, agent):
    chat = open_chat(customer)
    client.force_login(agent)
    response = client.post(take_url(chat), HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json() == {"ticket": chat.pk}


def test_a_closed_chat_cannot_be_taken(client, customer, agent):
    chat = open_chat(customer)
    Ticket.objects.filter(pk=chat.pk).update(
        status=Status.CLOSED, resolved_at=chat.created_at, closed_at=chat.created_at
    )
    client.force_login(agent)
    response = client.post(take_url(chat), HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "ticket_closed"
    chat.refresh_from_db()
    assert chat.assignee is None


def test_take_is_post_only(client, customer, agent):
    chat = open_chat(customer)
    client.force_login(agent)
    assert client.get(take_url(chat)).status_code == 405


def test_open_shows_any_visible_conversation_with_its_notes(client, customer, agent):
    chat = open_chat(customer)
    ticket_reply(
        ticket_id=chat.pk,
        author=agent,
        body="Ask the DC",
        channel=Channel.CHAT,
        internal=True,
        now=chat.created_at,
    )
    client.force_login(agent)
    response = client.get(pane_url(chat))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ask the DC" in html and "Hello, is anyone there?" in html
    assert f'action="{reverse("admin:tickets_ticket_change", args=[chat.pk])}"' in html
    strings = json.loads(_attribute(html, "data-chat-strings"))
    assert strings["kind_internal"] == "Internal note"

    page = client.get(f"{CONSOLE}?open={chat.pk}&open=nonsense&open=99999999999999999999")
    assert [pane["ticket"] for pane in page.context["panes"]] == [chat]


def _attribute(html: str, name: str) -> str:
    return html_module.unescape(re.search(rf'{name}="([^"]*)"', html).group(1))


def test_unknown_ids_are_404(client, agent):
    client.force_login(agent)
    assert client.get("/admin/chat/99999999/").status_code == 404
    assert client.post("/admin/chat/99999999/take/").status_code == 404
    assert client.get("/admin/chat/9999999999999999999999/").status_code == 404


# --- Constant queries -------------------------------------------------------------------------


def _console_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CONSOLE)
    assert response.status_code == 200
    return len(queries)


def test_the_console_costs_the_same_for_10_or_100_waiting_chats(client, customer, agent):
    client.force_login(agent)
    for _ in range(10):
        open_chat(customer)
    ten = _console_queries(client)
    assert len(client.get(CONSOLE).context["rows"]) == 10
    for _ in range(90):
        open_chat(customer)
    hundred = _console_queries(client)
    assert len(client.get(CONSOLE).context["rows"]) == 50  # the longest waits
    assert ten == hundred


def test_the_console_costs_the_same_for_2_or_8_conversations(client, customer, agent):
    client.force_login(agent)

    def take_one():
        chat = open_chat(customer)
        ticket_assign(ticket_id=chat.pk, actor=agent, assignee_id=None, now=chat.created_at)
        ticket_reply(
            ticket_id=chat.pk, author=agent, body="Hi", channel=Channel.CHAT, now=chat.created_at
        )

    for _ in range(2):
        take_one()
    two = _console_queries(client)
    for _ in range(6):
        take_one()
    eight = _console_queries(client)
    assert len(client.get(CONSOLE).context["panes"]) == 8
    assert two == eight
