"""My tickets: newest activity first, open/closed filters, pages, the next promise of each
ticket, in a number of queries that does not grow with the number of tickets."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from portal.tickets import PAGE_SIZE
from tests import factories
from tickets.models import Channel
from usecases import tickets as use_cases

LIST = "/tickets/"
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def open_tickets(customer, count, *, start=START):
    return [
        factories.make_ticket(
            customer=customer,
            subject=f"Request number {n}",
            now=start + datetime.timedelta(minutes=n),
        )
        for n in range(count)
    ]


def references(html: str) -> list[str]:
    return re.findall(r">(HD-\d{4}-\d{6})</a>", html)


def test_tickets_are_listed_newest_activity_first(client_a, customer_a):
    first, second, third = open_tickets(customer_a, 3)
    use_cases.ticket_reply(
        ticket_id=first.pk,
        author=customer_a,
        body="any news?",
        channel=Channel.WEB,
        now=START + datetime.timedelta(hours=1),
    )

    html = client_a.get(LIST).content.decode()

    assert references(html) == [first.reference, third.reference, second.reference]
    assert "Request number 0" in html
    assert first.team.name in html


def test_the_list_shows_the_next_promise_and_when_it_falls_due(client_a, customer_a):
    with time_machine.travel(START, tick=False):
        open_tickets(customer_a, 1)
        html = client_a.get(LIST).content.decode()

    assert "Automatic reply" in html
    assert "2026-03-02T10:02:00+01:00" in html  # customers default to Europe/Rome
    assert "in 2\xa0minutes" in html


@pytest.fixture
def open_and_closed(customer_a, agent):
    still_open, closed = open_tickets(customer_a, 2)
    use_cases.ticket_resolve(
        ticket_id=closed.pk, actor=agent, summary="Done.", now=START + datetime.timedelta(hours=1)
    )
    use_cases.ticket_confirm(
        ticket_id=closed.pk, customer=customer_a, now=START + datetime.timedelta(hours=2)
    )
    return still_open, closed


@pytest.mark.parametrize(
    ("query", "shows_open", "shows_closed"),
    [
        ({}, True, True),
        ({"status": "open"}, True, False),
        ({"status": "closed"}, False, True),
        ({"status": "nonsense"}, True, True),
    ],
)
def test_filters_open_and_closed(client_a, open_and_closed, query, shows_open, shows_closed):
    still_open, closed = open_and_closed

    response = client_a.get(LIST, query)

    found = references(response.content.decode())
    assert response.status_code == 200
    assert (still_open.reference in found) is shows_open
    assert (closed.reference in found) is shows_closed


def test_the_list_is_paginated(client_a, customer_a):
    tickets = open_tickets(customer_a, PAGE_SIZE + 3)

    first = client_a.get(LIST).content.decode()
    second = client_a.get(LIST, {"page": 2}).content.decode()
    beyond = client_a.get(LIST, {"page": "999"})
    garbage = client_a.get(LIST, {"page": "x<y"})

    assert len(references(first)) == PAGE_SIZE
    assert references(second) == [t.reference for t in reversed(tickets[:3])]
    assert "Page 1 of 2" in first
    assert 'rel="next"' in first
    assert beyond.status_code == garbage.status_code == 200


def test_an_empty_list_invites_to_open_a_ticket(client_a):
    html = client_a.get(LIST).content.decode()

    assert "You have no tickets yet." in html
    assert 'href="/tickets/new/"' in html


@pytest.mark.parametrize("count", [10, 100])
def test_the_list_costs_the_same_queries_for_10_or_100_tickets(
    client_a, customer_a, django_assert_num_queries, count
):
    open_tickets(customer_a, count)
    # session, user, profile (language and zone), count, the page's tickets with their team,
    # the running clocks of those tickets.
    with django_assert_num_queries(6):
        response = client_a.get(LIST)

    assert response.status_code == 200
    assert len(references(response.content.decode())) == min(count, PAGE_SIZE)


def test_the_list_login_redirect_is_the_after_login_page(client, customer_a):
    response = client.post(
        reverse("login"), {"username": customer_a.username, "password": factories.PASSWORD}
    )

    assert response["Location"] == LIST
