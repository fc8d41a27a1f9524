"""The ticket page: facts, thread, reply (public or internal) through the service, clocks,
the customer's other tickets; escaping and a constant number of queries."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sla.models import Clock
from sla.services.acknowledgement import acknowledgement_send
from tests.desk.conftest import T0, change_url, changelist_url, flashed, login
from tests.factories import make_customer, make_ticket
from tickets.models import Attachment, Channel, Message, OutboundEmail, Status, Ticket
from usecases.escalation import approval_request, ticket_consult, ticket_escalate
from usecases.tickets import ticket_assign, ticket_confirm, ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


def reply(client, ticket, **data):
    return client.post(change_url(ticket), {"visibility": "public", **data})


def test_page_shows_the_facts_the_thread_and_the_clocks(client, clock, agent, customer):
    ticket = make_ticket(customer=customer, subject="Disk full", body="Help, please.")
    acknowledgement_send(ticket_id=ticket.pk, now=T0)
    ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body="Looks like the logs.",
        channel=Channel.WEB,
        now=T0,
        internal=True,
    )
    login(client, agent)

    response = client.get(change_url(ticket))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{ticket.reference}: Disk full" in html
    assert "Support" in html and customer.email in html
    assert re.search(r'hd-msg--customer".*Help, please\.', html, re.S)
    assert re.search(r'hd-msg--system".*Thank you for contacting', html, re.S)
    assert re.search(r'hd-msg--internal".*Looks like the logs\.', html, re.S)
    for metric in ("Acknowledgement", "First response", "Status update", "Resolution"):
        assert metric in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="visibility" value="internal"' in html
    assert 'name="wait_on_customer"' in html


def test_public_reply_goes_to_the_customer_by_email(client, clock, agent, customer):
    ticket = make_ticket(customer=customer)
    login(client, agent)

    response = reply(client, ticket, body="We are on it.")

    assert response.status_code == 302
    assert response["Location"] == change_url(ticket)
    assert flashed(response) == [("success", "Reply sent to the customer.")]
    message = ticket.messages.get(body="We are on it.")
    assert message.kind == Message.Kind.AGENT and message.author == agent
    assert OutboundEmail.objects.filter(message=message, purpose="reply", to=customer.email)
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    first_response = Clock.objects.get(ticket=ticket, metric="first_response")
    assert first_response.met_at == T0


def test_internal_note_is_neither_emailed_nor_public(client, clock, agent, customer):
    ticket = make_ticket(customer=customer)
    login(client, agent)

    response = reply(client, ticket, body="Customer owes us money.", visibility="internal")

    assert response.status_code == 302
    assert flashed(response) == [("success", "Internal note added.")]
    note = ticket.messages.get(body="Customer owes us money.")
    assert note.kind == Message.Kind.INTERNAL and not note.is_public
    assert not OutboundEmail.objects.filter(ticket=ticket).exists()
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert Clock.objects.get(ticket=ticket, metric="first_response").met_at is None


def test_the_customer_reads_the_reply_but_not_the_note_in_the_portal(
    client, clock, agent, customer
):
    ticket = make_ticket(customer=customer)
    login(client, agent)
    reply(client, ticket, body="Internal: check the RAID first.", visibility="internal")
    reply(client, ticket, body="We are replacing the disk.")

    login(client, customer)
    html = client.get(f"/tickets/{ticket.pk}/").content.decode()

    assert "We are replacing the disk." in html
    assert "check the RAID" not in html


def test_reply_can_wait_on_the_customer(client, clock, agent, customer):
    ticket = make_ticket(customer=customer)
    login(client, agent)

    reply(client, ticket, body="Which server is it?", wait_on_customer="on")

    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_ON_CUSTOMER
    running = Clock.objects.filter(ticket=ticket, met_at__isnull=True, cancelled_at__isnull=True)
    assert running.exists()
    assert all(c.paused_at is not None for c in running if c.metric != "acknowledgement")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"body": ""}, "This field is required."),
        ({"body": "   "}, "This field is required."),
        (
            {"body": "x", "visibility": "internal", "wait_on_customer": "on"},
            "Only a public reply can wait on the customer.",
        ),
        ({"body": "x", "visibility": "shout"}, "Select a valid choice."),
    ],
)
def test_bad_reply_shows_the_error_and_writes_nothing(client, clock, agent, data, error):
    ticket = make_ticket()
    login(client, agent)

    response = reply(client, ticket, **data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert 'class="errornote"' in response.content.decode()
    assert ticket.messages.count() == 1
    assert not OutboundEmail.objects.exists()


def test_reply_to_a_closed_ticket_shows_the_services_refusal(client, clock, agent, customer):
    ticket = make_ticket(customer=customer)
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Fixed.", now=T0)
    ticket_confirm(ticket_id=ticket.pk, customer=customer, now=T0)
    login(client, agent)

    response = reply(client, ticket, body="One more thing")

    assert response.status_code == 200
    assert "This ticket is closed." in response.content.decode()
    assert not ticket.messages.filter(body="One more thing").exists()


def test_reply_needs_the_csrf_token(clock, agent):
    ticket = make_ticket()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)

    assert reply(browser, ticket, body="forged").status_code == 403
    html = browser.get(change_url(ticket)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = reply(browser, ticket, body="real", csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert ticket.messages.filter(body="real").exists()


def test_attachments_are_linked_and_served_behind_the_same_check(
    client, clock, agent, billing_agent, customer
):
    ticket = make_ticket(customer=customer)
    login(client, agent)

    reply(
        client,
        ticket,
        body="Here is the log.",
        attachments=[SimpleUploadedFile("boot.log", b"kernel panic\n")],
    )

    attachment = Attachment.objects.get(message__ticket=ticket)
    url = reverse("admin:tickets_ticket_attachment", args=[ticket.pk, attachment.token])
    assert f'href="{url}"' in client.get(change_url(ticket)).content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"kernel panic\n"
    assert response["Content-Disposition"].startswith("attachment;")
    login(client, billing_agent)
    assert client.get(url).status_code == 404
    other = make_ticket(customer=customer)
    login(client, agent)
    wrong_ticket = reverse("admin:tickets_ticket_attachment", args=[other.pk, attachment.token])
    assert client.get(wrong_ticket).status_code == 404


def test_customers_other_tickets_only_those_the_agent_may_see(
    client, clock, agent, billing, customer
):
    ticket = make_ticket(customer=customer, subject="this one")
    sibling = make_ticket(customer=customer, subject="sibling")
    hidden = make_ticket(customer=customer, subject="hidden")
    Ticket.objects.filter(pk=hidden.pk).update(team=billing)
    stranger = make_ticket(customer=make_customer(), subject="stranger")
    login(client, agent)

    response = client.get(change_url(ticket))

    others = response.context["other_tickets"]
    assert [t.pk for t in others] == [sibling.pk]
    html = response.content.decode()
    assert f'href="{change_url(sibling)}"' in html
    assert hidden.reference not in html and stranger.reference not in html


def test_user_content_is_inert(client, clock, agent):
    customer = make_customer(first_name=XSS)
    ticket = make_ticket(customer=customer, subject=XSS, body=XSS)
    login(client, agent)
    reply(
        client,
        ticket,
        body=XSS,
        visibility="internal",
        attachments=[SimpleUploadedFile(f"{XSS}.txt", b"x")],
    )
    attachment = Attachment.objects.get(message__ticket=ticket)
    # The service cleans file names; the page would escape whatever was left.
    assert "<" not in attachment.filename and ">" not in attachment.filename

    for url in (change_url(ticket), changelist_url(queue="all")):
        html = client.get(url).content.decode()
        assert XSS not in html
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_changelist_queries_do_not_grow_with_rows(client, clock, agent, support, billing):
    customers = [make_customer() for _ in range(3)]

    def open_tickets(count):
        for index in range(count):
            ticket = make_ticket(customer=customers[index % 3])
            if index % 2:
                ticket_reply(
                    ticket_id=ticket.pk, author=agent, body="On it", channel=Channel.WEB, now=T0
                )
            # Rows waiting on a consultation, on management, or passed to another team.
            if index % 5 == 0:
                ticket_consult(ticket_id=ticket.pk, actor=agent, team="billing", note="?", now=T0)
            elif index % 5 == 1:
                approval_request(
                    ticket_id=ticket.pk, actor=agent, kind="special", reason="?", now=T0
                )
            elif index % 5 == 2:
                ticket_assign(ticket_id=ticket.pk, actor=agent, assignee_id=None, now=T0)
                ticket_escalate(
                    ticket_id=ticket.pk, actor=agent, team="billing", reason="x", now=T0
                )

    open_tickets(10)
    login(client, agent)
    ten = _queries(client, changelist_url())
    ten_all = _queries(client, changelist_url(queue="all"))

    open_tickets(90)
    response = client.get(changelist_url())
    assert len(response.context["cl"].result_list) == response.context["cl"].list_per_page  # full
    assert "hd-mark--consultation" in response.content.decode()
    assert "hd-mark--approval" in response.content.decode()
    hundred = _queries(client, changelist_url())

    assert ten == hundred
    assert _queries(client, changelist_url(queue="all", o="-8")) == hundred
    assert _queries(client, changelist_url(queue="all")) == ten_all


def test_ticket_page_queries_do_not_grow_with_messages(client, clock, agent, customer):
    def grow(ticket, count):
        for index in range(count):
            author, internal = (customer, False) if index % 3 == 0 else (agent, index % 3 == 2)
            ticket_reply(
                ticket_id=ticket.pk,
                author=author,
                body=f"message {index}",
                channel=Channel.WEB,
                now=T0 + datetime.timedelta(seconds=index),
                internal=internal,
                attachments=(
                    [SimpleUploadedFile(f"f{index}.txt", b"x")] if index % 10 == 0 else []
                ),
            )

    small = make_ticket(customer=customer)
    grow(small, 9)
    large = make_ticket(customer=customer)
    grow(large, 99)
    for _ in range(3):
        make_ticket(customer=customer)
    login(client, agent)

    assert small.messages.count() == 10 and large.messages.count() == 100
    assert _queries(client, change_url(small)) == _queries(client, change_url(large))


def test_a_long_thread_shows_its_newest_page_and_older_pages_on_demand(client, agent, customer):
    ticket = make_ticket(customer=customer)
    for index in range(59):
        ticket_reply(
            ticket_id=ticket.pk,
            author=agent,
            body=f"step {index}",
            channel=Channel.WEB,
            now=T0 + datetime.timedelta(seconds=index),
            internal=index % 2 == 0,
        )
    ids = list(ticket.messages.order_by("id").values_list("id", flat=True))
    login(client, agent)

    latest = client.get(change_url(ticket)).content.decode()
    assert [int(i) for i in re.findall(r'id="message-(\d+)"', latest)] == ids[-50:]
    older = client.get(change_url(ticket), {"before": ids[-50]}).content.decode()
    assert [int(i) for i in re.findall(r'id="message-(\d+)"', older)] == ids[:10]
    assert "Back to the latest messages" in older
