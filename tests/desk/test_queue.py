"""The queue: default filter, filters, deadline badge and sorting, visibility by role."""

import datetime
import re

import pytest
from django.urls import reverse

from sla.services.acknowledgement import acknowledgement_send
from sla.services.sweep import breaches_record
from tests.desk.conftest import T0, change_url, changelist_url, listed, login
from tests.factories import make_agent, make_ticket
from tickets.models import Category, Channel, Status, Ticket
from usecases.tickets import ticket_assign, ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db


def moved(ticket: Ticket, team) -> Ticket:
    """Put a ticket in another team's queue (what an escalation does to it)."""
    Ticket.objects.filter(pk=ticket.pk).update(team=team)
    ticket.refresh_from_db()
    return ticket


def answered(ticket: Ticket, agent, *, now: datetime.datetime) -> Ticket:
    """Acknowledged and answered: the next promise is hours away."""
    acknowledgement_send(ticket_id=ticket.pk, now=now)
    ticket_reply(ticket_id=ticket.pk, author=agent, body="On it.", channel=Channel.WEB, now=now)
    return ticket


def test_queue_defaults_to_my_teams_open_tickets(client, clock, agent, billing, customer):
    mine = make_ticket(customer=customer, subject="mine")
    waiting = make_ticket(customer=customer, subject="waiting")
    ticket_reply(
        ticket_id=waiting.pk,
        author=agent,
        body="Which server?",
        channel=Channel.WEB,
        now=T0,
        wait_on_customer=True,
    )
    done = make_ticket(customer=customer, subject="done")
    ticket_resolve(ticket_id=done.pk, actor=agent, summary="Rebooted.", now=T0)
    elsewhere = moved(make_ticket(customer=customer, subject="elsewhere"), billing)
    login(client, agent)

    response = client.get(changelist_url())

    assert {t.subject for t in response.context["cl"].result_list} == {"mine", "waiting"}
    html = response.content.decode()
    assert "My teams, open" in html
    # Clearing the filters shows everything the agent may see, not the default again.
    assert "queue=all" in response.context["cl"].clear_all_filters_qs
    everything = listed(client, queue="all")
    assert {t.pk for t in everything} == {mine.pk, waiting.pk, done.pk}
    assert elsewhere.pk not in {t.pk for t in everything}


def test_a_ticket_once_assigned_stays_visible_after_it_leaves_the_team(
    client, clock, agent, billing
):
    ticket = make_ticket()
    ticket_assign(ticket_id=ticket.pk, actor=agent, assignee_id=None, now=T0)
    moved(ticket, billing)
    login(client, agent)

    assert listed(client) == []
    assert [t.pk for t in listed(client, queue="all")] == [ticket.pk]
    assert client.get(change_url(ticket)).status_code == 200


def test_agent_of_another_team_neither_sees_the_row_nor_opens_the_ticket(
    client, clock, billing_agent, customer
):
    ticket = make_ticket(customer=customer, subject="Support only")
    login(client, billing_agent)

    assert listed(client, queue="all") == []
    assert listed(client, queue="all", q=ticket.reference) == []
    assert client.get(change_url(ticket)).status_code == 404
    assert client.get(reverse("admin:tickets_ticket_change", args=["999999"])).status_code == 404
    assert client.get(reverse("admin:tickets_ticket_change", args=["x"])).status_code == 404
    response = client.post(change_url(ticket), {"body": "hi", "visibility": "public"})
    assert response.status_code == 404
    assert ticket.messages.count() == 1


@pytest.mark.parametrize("huge", ["9" * 19, "9" * 30])
def test_ids_beyond_any_row_answer_404_not_an_overflow(client, clock, agent, huge):
    login(client, agent)

    assert client.get(reverse("admin:tickets_ticket_change", args=[huge])).status_code == 404
    assert client.post(reverse("admin:tickets_ticket_change", args=[huge])).status_code == 404
    assert client.get(f"/admin/tickets/ticket/{huge}/attachments/abc/").status_code == 404


def test_manager_and_superuser_see_every_team(client, clock, billing, customer):
    first = make_ticket(customer=customer)
    second = moved(make_ticket(customer=customer), billing)
    for user in (make_agent(manager=True), make_agent(superuser=True)):
        login(client, user)
        assert {t.pk for t in listed(client, queue="all")} == {first.pk, second.pk}
        assert client.get(change_url(second)).status_code == 200


def test_customers_never_reach_the_admin(client, clock, customer):
    ticket = make_ticket(customer=customer)
    login(client, customer)

    for url in (changelist_url(), change_url(ticket), reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_filters(client, clock, agent, support, billing, customer):
    other_agent = make_agent(teams=(support,))
    plain = make_ticket(customer=customer, subject="plain")
    billing_question = make_ticket(
        customer=customer, subject="invoice", category=Category.BILLING, channel=Channel.EMAIL
    )
    taken = make_ticket(customer=customer, subject="taken")
    ticket_assign(ticket_id=taken.pk, actor=agent, assignee_id=None, now=T0)
    theirs = make_ticket(customer=customer, subject="theirs")
    ticket_assign(ticket_id=theirs.pk, actor=other_agent, assignee_id=None, now=T0)
    manager = make_agent(manager=True)
    login(client, manager)

    def subjects(**params):
        return {t.subject for t in listed(client, queue="all", **params)}

    assert subjects(team__id__exact=support.pk) == {"plain", "invoice", "taken", "theirs"}
    assert subjects(team__id__exact=billing.pk) == set()
    assert subjects(status__exact=Status.OPEN) == {"taken", "theirs"}
    assert subjects(status__exact=Status.NEW) == {"plain", "invoice"}
    assert subjects(category__exact=Category.BILLING) == {"invoice"}
    assert subjects(channel__exact=Channel.EMAIL) == {"invoice"}
    assert subjects(assigned="nobody") == {"plain", "invoice"}
    assert subjects() == {"plain", "invoice", "taken", "theirs"}
    assert plain.pk and billing_question.pk

    login(client, agent)
    assert {t.subject for t in listed(client, assigned="me")} == {"taken"}
    assert {t.subject for t in listed(client, q=billing_question.reference)} == {"invoice"}
    assert {t.subject for t in listed(client, q="INVOICE")} == {"invoice"}
    assert len(listed(client, q=customer.email)) == 4


def test_sla_filters_read_running_clocks(client, clock, agent, customer):
    fresh = make_ticket(customer=customer, subject="fresh")
    calm = answered(make_ticket(customer=customer, subject="calm"), agent, now=T0)
    login(client, agent)

    assert {t.subject for t in listed(client, sla="due_soon")} == {"fresh"}
    assert listed(client, sla="breached") == []

    # Eight minutes on: the unacknowledged ticket is late and the sweep records it.
    clock.shift(datetime.timedelta(minutes=8))
    breaches_record(now=T0 + datetime.timedelta(minutes=8))
    assert {t.subject for t in listed(client, sla="breached")} == {"fresh"}
    assert {t.subject for t in listed(client, sla="due_soon")} == {"fresh"}

    # A met clock is no longer anyone's worry, even if it was breached on the way.
    answered(fresh, agent, now=T0 + datetime.timedelta(minutes=8))
    assert listed(client, sla="breached") == []
    assert listed(client, sla="due_soon") == []
    assert calm.pk


def test_next_deadline_badge_counts_down_and_turns_red(client, clock, agent, customer):
    make_ticket(customer=customer)
    login(client, agent)

    html = client.get(changelist_url()).content.decode()
    assert re.search(r'class="hd-deadline hd-deadline--soon"[^>]*>in 2 min<', html)

    clock.shift(datetime.timedelta(minutes=9))
    html = client.get(changelist_url()).content.decode()
    assert re.search(r'class="hd-deadline hd-deadline--late"[^>]*>7 min late<', html)


def test_queue_is_sorted_by_next_deadline(client, clock, agent, customer):
    # Opened first but answered: due in hours. Opened later, unanswered: due in minutes.
    relaxed = answered(make_ticket(customer=customer, subject="relaxed"), agent, now=T0)
    clock.shift(datetime.timedelta(minutes=1))
    urgent = make_ticket(customer=customer, subject="urgent")
    clock.shift(datetime.timedelta(minutes=1))
    newest = make_ticket(customer=customer, subject="newest")
    done = make_ticket(customer=customer, subject="done")
    acknowledgement_send(ticket_id=done.pk, now=T0)
    ticket_resolve(ticket_id=done.pk, actor=agent, summary="Fixed.", now=T0)
    login(client, agent)

    assert [t.subject for t in listed(client)] == ["urgent", "newest", "relaxed"]
    # Tickets without a running promise come last, whatever the database does with NULLs.
    assert [t.subject for t in listed(client, queue="all")][-1] == "done"

    response = client.get(changelist_url())
    column = response.context["cl"].list_display.index("next_deadline")
    assert response.context["cl"].get_ordering_field_columns() == {column: "asc"}
    descending = listed(client, o=f"-{column}")
    assert [t.subject for t in descending] == ["relaxed", "newest", "urgent"]
    assert urgent.pk and newest.pk and relaxed.pk
