"""An update fanned out to 500 linked tickets by a real Celery worker that is SIGKILLed midway
still reaches every thread exactly once (PostgreSQL): the deliveries are an outbox, claimed in
batches under SKIP LOCKED and marked in the transaction that posts them.

Polling the database with a bounded timeout waits for the external workers; no deadline here
depends on it."""

import datetime as dt

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from incidents.models import Delivery
from teams.services import support_structure_setup
from tests import factories
from tests.workers import held_by_workers, redeliver_held, wait_until
from tickets.models import Category, Channel, Message, Ticket
from usecases import incidents
from usecases.tickets import ticket_open

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKETS = 500
BODY = "Both power feeds are back; servers are booting one rack at a time."


def delivered() -> int:
    return Delivery.objects.filter(delivered_at__isnull=False).count()


def test_a_killed_worker_leaves_every_thread_hearing_the_update_exactly_once(queue, workers):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    support_structure_setup()
    lead = factories.make_agent(teams=(factories.first_line_team(),))
    customers = [factories.make_customer() for _ in range(10)]
    now = timezone.now() - dt.timedelta(minutes=5)
    with transaction.atomic():
        ticket_ids = [
            ticket_open(
                customer=customers[i % len(customers)],
                subject=f"Server {i} unreachable",
                body="It stopped answering.",
                category=Category.DEDICATED,
                channel=Channel.WEB,
                data_center="ams",
                now=now,
            ).pk
            for i in range(TICKETS)
        ]
    broker.delete(queue)  # their acknowledgements are another test's subject
    incident = incidents.incident_open(
        actor=lead, title="Amsterdam power", description="Down.", data_center="ams", now=now
    )
    incidents.tickets_link(incident_id=incident.pk, actor=lead, ticket_ids=ticket_ids, now=now)
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body=BODY, status="identified", now=timezone.now()
    )
    assert broker.llen(queue) == settings.INCIDENT_FANOUT_TASKS, "a few tasks share the work"

    worker = workers()
    wait_until(lambda: delivered() >= incidents.DELIVERY_BATCH, "the first batch is posted")
    worker.kill()  # mid-batch: no rollback, no acknowledgement of its messages
    assert delivered() < TICKETS, "killed after the work was done: nothing proven"
    assert held_by_workers(broker, queue), "the dead worker held its tasks"

    # The beat's watch sees the stalled fan-out and starts another task; an hour later Redis
    # hands the dead worker's task back too. Both run at once on the new worker.
    workers()
    assert incidents.deliveries_stalled(now=timezone.now() + dt.timedelta(minutes=1)) > 0
    current_app.send_task(incidents.DELIVER_TASK)
    assert redeliver_held(broker, queue) >= 1
    wait_until(lambda: delivered() == TICKETS, "every thread has the update")
    wait_until(
        lambda: broker.llen(queue) == 0 and not held_by_workers(broker, queue),
        "the workers have run every task",
    )

    counts = Ticket.objects.filter(pk__in=ticket_ids).annotate(
        updates=Count("messages", filter=Q(messages__body__contains=BODY), distinct=True),
        emails=Count(
            "outbound_emails", filter=Q(outbound_emails__purpose="incident"), distinct=True
        ),
    )
    assert {(t.updates, t.emails) for t in counts} == {(1, 1)}
    assert not Delivery.objects.filter(message__isnull=True).exists()
    assert Message.objects.filter(body__contains=BODY).count() == TICKETS
