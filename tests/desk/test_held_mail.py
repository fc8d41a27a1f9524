"""Held mail in the desk: managers and admins review it (file as the customer's mail, discard),
who and when is recorded; staff-sender mail can only be discarded; agents see none of it."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailin import filing as email_in
from mailin.headers import mail_parse
from tests.desk.conftest import T0, flashed, login
from tests.factories import make_agent, make_ticket
from tests.mailin.mails import AUTHSERV_ID, dmarc, mail
from tickets.models import Channel, InboundEmail, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("support")]
User = get_user_model()
CHANGELIST = reverse("admin:tickets_inboundemail_changelist")


@pytest.fixture(autouse=True)
def trusted_mta(settings):
    settings.EMAIL_AUTHSERV_ID = AUTHSERV_ID


def held(raw: bytes) -> InboundEmail:
    outcome = email_in.email_receive(raw=raw, now=T0)
    assert outcome.result == email_in.HELD, outcome
    return InboundEmail.objects.get(state="held", message_id=mail_parse(raw).message_id)


def dmarc_failed(customer, **fields) -> InboundEmail:
    return held(mail(sender=customer.email, headers=(dmarc("fail"),), **fields))


def staff_written(staff, **fields) -> InboundEmail:
    return held(mail(sender=staff.email, **fields))


def run_action(client, action, rows):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [row.pk for row in rows]})


def test_a_manager_files_held_customer_mail_into_its_thread(client, clock, manager, customer):
    ticket = make_ticket(customer=customer, channel=Channel.EMAIL)
    row = dmarc_failed(customer, subject=f"Re: {ticket.reference}", body="Any news?")
    login(client, manager)

    response = run_action(client, "file_as_customer", [row])

    assert flashed(response) == [("success", f"Email {row.pk}: filed in {ticket.reference}.")]
    last = ticket.messages.order_by("id").last()
    assert (last.kind, last.author, last.body) == ("customer", customer, "Any news?")
    row.refresh_from_db()
    assert (row.state, row.ticket, row.raw, row.reviewed_by, row.reviewed_at) == (
        "released",
        ticket,
        None,
        manager,
        T0,
    )


def test_held_mail_of_a_new_sender_opens_a_ticket_of_a_new_customer(client, clock, manager):
    row = held(mail(sender="anna@example.com", headers=(dmarc("fail"),)))
    login(client, manager)

    run_action(client, "file_as_customer", [row])

    ticket = Ticket.objects.get()
    assert ticket.customer.email == "anna@example.com" and not ticket.customer.is_staff
    row.refresh_from_db()
    assert (row.state, row.ticket) == ("released", ticket)


def test_staff_sender_mail_can_only_be_discarded(client, clock, manager, agent, customer):
    ticket = make_ticket(customer=customer, channel=Channel.EMAIL)
    row = staff_written(agent, subject=f"Re: {ticket.reference}", body="Refund approved.")
    login(client, manager)

    refused = run_action(client, "file_as_customer", [row])

    assert flashed(refused) == [
        ("error", f"Email {row.pk}: Mail from a staff address is never filed; discard it.")
    ]
    assert ticket.messages.count() == 1
    row.refresh_from_db()
    assert row.state == "held" and row.raw is not None

    discarded = run_action(client, "discard", [row])

    assert flashed(discarded)[-1] == ("success", f"Email {row.pk}: discarded.")
    row.refresh_from_db()
    assert (row.state, row.raw, row.reviewed_by, row.reviewed_at) == (
        "discarded",
        None,
        manager,
        T0,
    )
    assert ticket.messages.count() == 1 and Ticket.objects.count() == 1


def test_mail_reviewed_once_is_not_reviewed_again(client, clock, manager, customer):
    row = dmarc_failed(customer)
    login(client, manager)
    run_action(client, "discard", [row])

    run_action(client, "file_as_customer", [row])

    assert not Ticket.objects.exists()
    with pytest.raises(CommandError, match="not held any more"):
        call_command("mail_held", "file", str(row.pk), reviewer=manager.username)


def test_agents_see_no_inbound_mail_and_cannot_review_it(client, clock, agent, customer):
    row = dmarc_failed(customer)
    login(client, agent)

    assert client.get(CHANGELIST).status_code == 403
    assert run_action(client, "file_as_customer", [row]).status_code == 403
    assert "inboundemail" not in client.get(reverse("admin:index")).content.decode()
    with pytest.raises(CommandError, match="Only managers and admins review held mail"):
        call_command("mail_held", "discard", str(row.pk), reviewer=agent.username)
    row.refresh_from_db()
    assert row.state == "held"


def test_the_list_shows_held_mail_first_in_constant_queries_without_raw_messages(
    client, clock, manager, customer
):
    email_in.email_receive(raw=mail(sender=customer.email), now=T0)
    first = dmarc_failed(customer)
    login(client, manager)
    with CaptureQueriesContext(connection) as one:
        response = client.get(CHANGELIST)
    assert list(response.context["cl"].result_list) == [first]
    for _n in range(4):
        dmarc_failed(customer)

    with CaptureQueriesContext(connection) as five:
        response = client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 5
    assert len(five) == len(one)
    assert not any('"raw"' in query["sql"] for query in five.captured_queries)
    assert len(client.get(CHANGELIST + "?state=all").context["cl"].result_list) == 6


def test_the_page_of_held_mail_shows_the_message_as_inert_text(client, clock, manager, customer):
    row = dmarc_failed(customer, body="<script>alert(1)</script> Please call me.")
    login(client, manager)

    page = client.get(reverse("admin:tickets_inboundemail_change", args=[row.pk]))

    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Please call me." in html
    assert "<script>alert(1)" not in html


def test_an_operator_lists_and_reviews_held_mail_from_a_shell(clock, customer):
    row = dmarc_failed(customer, subject="Invoice question")
    admin_user = make_agent(superuser=True)
    out = io.StringIO()

    call_command("mail_held", stdout=out)
    assert out.getvalue().split("\t")[0] == str(row.pk)
    assert "dmarc_fail" in out.getvalue() and "Invoice question" in out.getvalue()

    assert call_command("mail_held", "discard", str(row.pk), reviewer=admin_user.username) == (
        f"Email {row.pk}: discarded."
    )
