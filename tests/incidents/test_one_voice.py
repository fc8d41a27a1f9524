"""One update, every linked thread: each customer hears it once, in their language, as the
status update their ticket was owed, by email and on an open chat socket; nobody hears of the
other customers. The clock is moved with time-machine."""

import datetime as dt

import time_machine
from django.test import Client

from incidents.models import Delivery
from sla.models import Clock
from sla.policy import Metric
from tests.incidents.conftest import OPENED, fan_out
from tickets.models import Message, OutboundEmail
from usecases import incidents
from usecases.tickets import ticket_confirm, ticket_resolve

UPDATE_AT = OPENED + dt.timedelta(minutes=20)
BODY = "Power is back on one feed; servers are booting."


def system_messages(ticket) -> list[Message]:
    return list(ticket.messages.filter(kind=Message.Kind.SYSTEM).order_by("id"))


def post_update(incident, lead, *, body=BODY, status="identified", now=UPDATE_AT, **extra):
    return incidents.incident_update(
        incident_id=incident.pk, actor=lead, body=body, status=status, now=now, **extra
    )


def test_an_update_reaches_each_thread_once_in_its_customers_language(
    incident, lead, outage_tickets, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        post_update(incident, lead)
    assert len(enqueued) >= 1, "the fan-out is the worker's, enqueued after COMMIT"
    assert not Message.objects.filter(body__contains=BODY).exists(), "nothing posted inline"

    assert fan_out(UPDATE_AT + dt.timedelta(seconds=2)) == 3
    assert fan_out(UPDATE_AT + dt.timedelta(seconds=3)) == 0, "a second run posts nothing"

    italian, english, italian_too = outage_tickets
    for ticket, frame in [
        (italian, 'Aggiornamento su "Power failure in Amsterdam" (causa individuata):'),
        (english, 'Update on "Power failure in Amsterdam" (identified):'),
        (italian_too, 'Aggiornamento su "Power failure in Amsterdam" (causa individuata):'),
    ]:
        [message] = [m for m in system_messages(ticket) if BODY in m.body]
        assert message.body.startswith(frame)
        assert f"/status/incidents/{incident.pk}/" in message.body
        [email] = OutboundEmail.objects.filter(ticket=ticket, purpose="incident")
        assert email.message_id == message.pk
        assert email.to == ticket.customer.email
        assert BODY in email.body_text
    assert Delivery.objects.filter(delivered_at__isnull=True).count() == 0


def test_the_update_is_the_status_update_and_first_response_each_ticket_was_owed(
    incident, lead, outage_tickets
):
    post_update(incident, lead)
    delivered = UPDATE_AT + dt.timedelta(seconds=2)
    fan_out(delivered)
    for ticket in outage_tickets:
        clocks = Clock.objects.filter(ticket=ticket)
        first = clocks.get(metric=Metric.FIRST_RESPONSE)
        assert first.met_at == delivered
        met, running = (
            clocks.filter(metric=Metric.STATUS_UPDATE, met_at__isnull=False).get(),
            clocks.filter(metric=Metric.STATUS_UPDATE, met_at__isnull=True).get(),
        )
        assert met.met_at == delivered, "the update met the status-update clock"
        assert running.started_at == delivered, "and started the next one"
        assert running.due_at > delivered


def test_a_status_update_promise_is_kept_by_updates_alone(incident, lead, outage_tickets):
    """Each update restarts the clock: a breach would need a gap longer than the target."""
    post_update(incident, lead)
    fan_out(UPDATE_AT)
    running = Clock.objects.get(
        ticket=outage_tickets[0], metric=Metric.STATUS_UPDATE, met_at__isnull=True
    )
    gap = running.due_at - UPDATE_AT
    later = UPDATE_AT + gap - dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        post_update(incident, lead, body="Half of the servers are up.", now=later)
        fan_out(later)
    for ticket in outage_tickets:
        assert not Clock.objects.filter(
            ticket=ticket, metric=Metric.STATUS_UPDATE, met_at__isnull=True, due_at__lte=later
        ).exists()
        assert not ticket.breaches.filter(clock__metric=Metric.STATUS_UPDATE).exists()


def test_no_customer_learns_of_another(incident, lead, outage_tickets, customers):
    post_update(incident, lead)
    fan_out(UPDATE_AT)
    client = Client()
    client.force_login(customers[0])
    page = client.get(f"/tickets/{outage_tickets[0].pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert BODY in html
    for other_ticket, other in zip(outage_tickets[1:], customers[1:], strict=True):
        assert other.username not in html
        assert other.email not in html
        assert other_ticket.subject not in html
        assert client.get(f"/tickets/{other_ticket.pk}/").status_code == 404
    for ticket in outage_tickets:
        for message in system_messages(ticket):
            for other in customers:
                if other != ticket.customer:
                    assert other.username not in message.body


def test_a_closed_ticket_hears_no_more(incident, lead, outage_tickets):
    closed = outage_tickets[1]
    ticket_resolve(ticket_id=closed.pk, actor=lead, summary="Moved to another rack.", now=OPENED)
    ticket_confirm(ticket_id=closed.pk, customer=closed.customer, now=OPENED)
    post_update(incident, lead)
    assert fan_out(UPDATE_AT) == 3, "each delivery is done, the closed one without a message"
    assert not any(BODY in m.body for m in system_messages(outage_tickets[1]))


def test_an_unlinked_ticket_continues_alone(incident, lead, outage_tickets):
    incidents.ticket_unlink(
        incident_id=incident.pk, actor=lead, ticket_id=outage_tickets[2].pk, now=UPDATE_AT
    )
    post_update(incident, lead)
    assert fan_out(UPDATE_AT) == 2
    assert not any(BODY in m.body for m in system_messages(outage_tickets[2]))
