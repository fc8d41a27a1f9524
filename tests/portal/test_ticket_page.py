"""A ticket's page: the whole public conversation of every channel, the promises with their
due times in the customer's zone, a reply box, confirmation of a resolution."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from sla.services.acknowledgement import acknowledgement_send
from tests import factories
from tests.portal.uploads import upload
from tickets.models import Channel, Message, Status
from usecases import tickets as use_cases

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)  # a Monday


def detail_url(ticket) -> str:
    return reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})


def reply(ticket, author, body, *, at=None, **kwargs):
    message, _created = use_cases.ticket_reply(
        ticket_id=ticket.pk,
        author=author,
        body=body,
        channel=kwargs.pop("channel", Channel.WEB),
        now=at or timezone.now(),
        **kwargs,
    )
    return message


def resolve(ticket, agent, *, at=None):
    use_cases.ticket_resolve(
        ticket_id=ticket.pk, actor=agent, summary="Replaced the disk.", now=at or timezone.now()
    )


@pytest.fixture
def ticket(customer_a):
    return factories.make_ticket(customer=customer_a, now=timezone.now())


def test_the_thread_shows_every_public_message_of_every_channel_in_order(client_a, ticket, agent):
    acknowledgement_send(ticket_id=ticket.pk, now=timezone.now())
    reply(ticket, agent, "Which server is it?")
    reply(ticket, agent, "Looks like the disk, asking the data center.", internal=True)
    reply(ticket, ticket.customer, "srv-42, thanks", channel=Channel.EMAIL)

    html = client_a.get(detail_url(ticket)).content.decode()

    order = [
        html.index("It stopped answering after a reboot."),
        html.index("Thank you for contacting INTROSERV support"),
        html.index("Which server is it?"),
        html.index("srv-42, thanks"),
    ]
    assert order == sorted(order)
    assert "asking the data center" not in html
    assert html.count('class="post post-system"') == 1
    assert "INTROSERV support · automatic message" in html
    assert html.count('class="post post-customer"') == 2
    assert "Giulia, INTROSERV support" in html
    assert re.search(r'channel-email">.*Email</span>', html)
    assert re.search(r'channel-web">.*Web</span>', html)


def test_the_page_shows_status_team_and_the_assignees_first_name(client_a, ticket, agent):
    use_cases.ticket_assign(ticket_id=ticket.pk, actor=agent, assignee_id=None, now=timezone.now())

    html = client_a.get(detail_url(ticket)).content.decode()

    assert '<span class="status status-open">Open</span>' in html
    assert f"<dd>{ticket.team.name}</dd>" in html
    assert "<dd>Giulia</dd>" in html
    assert agent.email not in html


def test_attachments_of_the_thread_link_to_their_download(client_a, customer_a):
    ticket = factories.make_ticket(customer=customer_a, attachments=[upload("top.png")])
    attachment = ticket.messages.get().attachments.get()

    html = client_a.get(detail_url(ticket)).content.decode()

    assert f'href="/tickets/{ticket.pk}/attachments/{attachment.pk}/"' in html
    assert "top.png" in html


def test_promises_are_shown_with_due_times_in_the_customers_zone(client, structure):
    customer = factories.make_customer(timezone="America/New_York")
    with time_machine.travel(START, tick=False):
        ticket = factories.make_ticket(customer=customer, now=START)
        client.force_login(customer)
        html = client.get(detail_url(ticket)).content.decode()

    # 09:02 UTC is 04:02 in New York (EST, UTC-5) on 2 March 2026.
    assert '<time datetime="2026-03-02T04:02:00-05:00">2 Mar 2026, 04:02</time>' in html
    assert '<time datetime="2026-03-02T04:10:00-05:00">' in html
    assert "Automatic reply" in html
    assert "Reply from a person on our team" in html
    assert "America/New_York" in html


def test_a_missed_promise_is_admitted(client_a, ticket):
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=15)):
        html = client_a.get(detail_url(ticket)).content.decode()

    assert "we are late, and our management knows" in html


def test_a_kept_promise_shows_when(client_a, ticket):
    acknowledgement_send(ticket_id=ticket.pk, now=timezone.now())

    html = client_a.get(detail_url(ticket)).content.decode()

    assert re.search(r"Automatic reply</span>\s*<span[^>]*promise-met", html)


def test_a_reply_is_posted_in_the_thread(client_a, ticket):
    response = client_a.post(
        detail_url(ticket),
        {"body": "Here are the logs.", "attachments": [upload("boot.log", b"panic")]},
    )

    message = ticket.messages.latest("pk")
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.pk}/#message-{message.pk}"
    assert (message.kind, message.channel, message.body) == (
        "customer",
        "web",
        "Here are the logs.",
    )
    assert message.attachments.get().filename == "boot.log"
    assert "Your reply has been sent." in client_a.get(response["Location"]).content.decode()


def test_a_form_sent_twice_is_stored_once(client_a, ticket):
    data = {"body": "Same again", "client_id": "c0ffee"}

    client_a.post(detail_url(ticket), data)
    second = client_a.post(detail_url(ticket), data)

    assert second.status_code == 302
    assert ticket.messages.filter(body="Same again").count() == 1


def test_an_empty_reply_is_a_form_error(client_a, ticket):
    response = client_a.post(detail_url(ticket), {"body": "  "})

    assert response.status_code == 200
    assert "Please correct the following:" in response.content.decode()
    assert ticket.messages.count() == 1


def test_a_refused_reply_file_stores_nothing(settings, client_a, ticket):
    settings.ATTACHMENT_MAX_BYTES = 10

    response = client_a.post(
        detail_url(ticket), {"body": "logs", "attachments": [upload("big.log", b"x" * 11)]}
    )

    assert response.status_code == 200
    assert "big.log is larger than" in response.content.decode()
    assert ticket.messages.count() == 1


def test_replying_to_a_resolved_ticket_reopens_it(client_a, ticket, agent):
    resolve(ticket, agent)
    page = client_a.get(detail_url(ticket)).content.decode()

    response = client_a.post(detail_url(ticket), {"body": "Still broken."})

    ticket.refresh_from_db()
    assert "your message reopens the ticket" in page
    assert ticket.status == Status.OPEN
    assert (
        "Your reply has reopened the ticket." in client_a.get(response["Location"]).content.decode()
    )


def test_the_customer_confirms_a_resolution(client_a, ticket, agent):
    resolve(ticket, agent)
    page = client_a.get(detail_url(ticket)).content.decode()

    response = client_a.post(reverse("tickets:confirm", kwargs={"ticket_id": ticket.pk}))

    ticket.refresh_from_db()
    assert "Confirm resolution" in page
    assert response.status_code == 302
    assert ticket.status == Status.CLOSED
    closed = client_a.get(detail_url(ticket)).content.decode()
    assert "The ticket is closed and keeps all its details." in closed
    assert "Confirm resolution" not in closed
    assert 'name="body"' not in closed
    assert f"you can mention {ticket.reference}" in closed


def test_confirming_an_unresolved_ticket_is_refused(client_a, ticket):
    response = client_a.post(reverse("tickets:confirm", kwargs={"ticket_id": ticket.pk}))

    ticket.refresh_from_db()
    assert response.status_code == 409
    assert "Only a resolved ticket can be confirmed." in response.content.decode()
    assert ticket.status == Status.NEW


def test_only_the_customer_confirms(client, ticket, agent):
    resolve(ticket, agent)
    client.force_login(agent)

    page = client.get(detail_url(ticket)).content.decode()
    response = client.post(reverse("tickets:confirm", kwargs={"ticket_id": ticket.pk}))

    assert "Confirm resolution" not in page
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED


def test_confirm_is_a_post(client_a, ticket):
    assert (
        client_a.get(reverse("tickets:confirm", kwargs={"ticket_id": ticket.pk})).status_code == 405
    )


def test_a_reply_to_a_closed_ticket_is_refused_with_409(client_a, ticket, agent):
    resolve(ticket, agent)
    use_cases.ticket_confirm(ticket_id=ticket.pk, customer=ticket.customer, now=timezone.now())

    response = client_a.post(detail_url(ticket), {"body": "one more thing"})

    assert response.status_code == 409
    assert "This ticket is closed." in response.content.decode()
    assert not ticket.messages.filter(body="one more thing").exists()


def test_an_agent_replies_publicly_from_the_page(client, ticket, agent):
    client.force_login(agent)

    client.post(detail_url(ticket), {"body": "On it."})

    assert ticket.messages.latest("pk").kind == Message.Kind.AGENT


@pytest.mark.parametrize("replies", [2, 20])
def test_the_page_costs_the_same_queries_for_a_short_or_long_thread(
    client_a, ticket, agent, django_assert_num_queries, replies
):
    for n in range(replies):
        reply(ticket, agent, f"Step {n}", attachments=[upload(f"step{n}.txt", b"ok")])
    # session, user, profile, the ticket (with team, customer, assignee), its clocks, the
    # thread with authors, the thread's attachments.
    with django_assert_num_queries(7):
        response = client_a.get(detail_url(ticket))

    assert response.content.decode().count('class="post post-agent"') == replies


def test_a_long_thread_shows_its_newest_page_and_older_pages_on_demand(client_a, ticket, agent):
    for n in range(1, 60):
        reply(ticket, agent, f"Step {n}")
    ids = list(ticket.messages.order_by("id").values_list("id", flat=True))

    latest = client_a.get(detail_url(ticket))
    shown = [int(i) for i in re.findall(r'<article id="message-(\d+)"', latest.content.decode())]
    assert shown == ids[-50:]
    assert f"?before={ids[-50]}" in latest.content.decode()
    assert "data-chat-socket" in latest.content.decode()

    older = client_a.get(detail_url(ticket), {"before": ids[-50]})
    page = older.content.decode()
    assert [int(i) for i in re.findall(r'<article id="message-(\d+)"', page)] == ids[:10]
    assert "Show older messages" not in page
    assert "Back to the latest messages" in page
    # An older page is read, not followed live.
    assert "data-chat-socket" not in page


@pytest.mark.parametrize("before", ["x", "-1", "0", "9" * 30])
def test_a_bad_page_position_shows_the_latest_page(client_a, ticket, before):
    response = client_a.get(detail_url(ticket), {"before": before})

    assert response.status_code == 200
    assert "Back to the latest messages" not in response.content.decode()
