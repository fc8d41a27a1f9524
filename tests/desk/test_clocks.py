"""The ticket page of the agents' desk shows every SLA clock: due, met, breached, paused,
cancelled and the policy version that set its target, without a query per clock."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla.models import Clock
from sla.policy import Metric
from sla.services.acknowledgement import acknowledgement_send
from sla.services.sweep import breaches_record
from tests.desk.conftest import T0, change_url, login
from tests.factories import make_ticket
from tickets.models import Channel
from usecases.tickets import ticket_reply

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def clock_rows(html: str) -> dict[str, str]:
    """The clocks table's rows, by the promise named in their header cell."""
    table = html.split('id="hd-clocks-title"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr class=\"([^\"]*)\">\s*<th scope=\"row\">([^<]+)(.*?)</tr>", table, re.S)
    return {name.strip(): f'class="{css}" {rest}' for css, name, rest in rows}


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_each_clock_shows_due_met_breached_paused_and_policy(client, clock, agent, customer):
    ticket = make_ticket(customer=customer, now=T0)
    acknowledgement_send(ticket_id=ticket.pk, now=T0 + datetime.timedelta(seconds=20))
    clock.move_to(T0 + 11 * MINUTE)
    breaches_record(now=timezone.now())  # the first response is missed
    clock.move_to(T0 + 12 * MINUTE)
    ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body="Please send the server's logs.",
        channel=Channel.WEB,
        now=timezone.now(),
        wait_on_customer=True,
    )
    login(client, agent)

    response = client.get(change_url(ticket))

    assert response.status_code == 200
    rows = clock_rows(response.content.decode())
    ack = cells(rows["Acknowledgement"])
    assert ack[0] == "March 2, 2026, 10:02 a.m."  # due
    assert ack[1] == "March 2, 2026, 10 a.m."  # met, 20 s after opening
    assert ack[2] == ack[3] == ack[4] == "—"  # neither breached, paused nor cancelled
    first = cells(rows["First response"])
    assert "hd-clock--breached" in rows["First response"]
    assert first[0] == "March 2, 2026, 10:10 a.m."
    assert first[1] == "March 2, 2026, 10:12 a.m."  # met late, by the reply
    assert first[2] == "March 2, 2026, 10:11 a.m."  # breached when the sweep saw it
    resolution = cells(rows["Resolution"])
    assert resolution[3] == "March 2, 2026, 10:12 a.m."  # paused: waiting on the customer
    assert {cells(row)[5] for row in rows.values()} == {"v1"}  # the version that set them


def test_the_next_promise_is_marked(client, clock, agent, customer):
    ticket = make_ticket(customer=customer, now=T0)
    login(client, agent)
    rows = clock_rows(client.get(change_url(ticket)).content.decode())
    assert "hd-clock--next" in rows["Acknowledgement"]
    assert "(next)" in rows["Acknowledgement"]
    assert "hd-clock--next" not in rows["Resolution"]


def test_clocks_cost_no_query_each(client, clock, agent, customer):
    few = make_ticket(customer=customer, now=T0)
    many = make_ticket(customer=customer, now=T0)
    # Every public reply meets the status update and starts a new one: many clocks.
    for index in range(20):
        with time_machine.travel(T0 + index * MINUTE, tick=False):
            ticket_reply(
                ticket_id=many.pk,
                author=agent,
                body=f"update {index}",
                channel=Channel.WEB,
                now=timezone.now(),
            )
    for index in range(20):
        ticket_reply(
            ticket_id=few.pk,
            author=customer,
            body=f"more {index}",
            channel=Channel.WEB,
            now=T0,
        )
    assert Clock.objects.filter(ticket=many, metric=Metric.STATUS_UPDATE).count() == 21
    assert Clock.objects.filter(ticket=few).count() == 4
    login(client, agent)

    def queries(ticket) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(change_url(ticket)).status_code == 200
        return len(captured)

    assert queries(few) == queries(many)
