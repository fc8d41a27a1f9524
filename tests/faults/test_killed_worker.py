"""A Celery worker SIGKILLed in the middle of acknowledgements and their emails.

tests/sla/test_exactly_once.py proves the acknowledgements (duplicate deliveries, racing
sweeps, a killed worker). This one follows the emails too, into a real SMTP server (the sink,
in this process), which counts what it accepted by Message-ID. The worker is killed while both
of its pool processes wait for the sink to accept a message (the sink holds its answer back,
as a slow MTA does): those two were never accepted, and their outbox rows stay claimed
("sending"). A new worker and the sweep finish the rest; the claimed rows go back to pending
once STUCK_SENDING_SECONDS have passed (the clock is moved, not waited for), and the dead
worker's deliveries, handed back by Redis after its visibility timeout, find nothing to do.
Every ticket ends with one acknowledgement and every email accepted once: the outbox row's
state decides, not luck.
"""

import datetime as dt
import threading
import time

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from jobs import tasks as sla_tasks
from sla.models import Clock
from sla.policy import Metric
from teams.services import support_structure_setup
from tests.factories import make_customer
from tests.faults.conftest import counts_line, wait_for
from tests.workers import held_by_workers, redeliver_held
from tickets import notifications
from tickets.models import Category, Channel, Message, OutboundEmail, Ticket
from tickets.tasks import email_deliver
from usecases.tickets import ticket_open

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TICKETS = 60
TIMEOUT = 60


class Feeder(threading.Thread):
    """Customers opening tickets one after another, before, during and after the kill: the
    queue mixes their acknowledgements with the emails of those acknowledged."""

    def __init__(self, customers):
        super().__init__(daemon=True)
        self.customers = customers
        self.tickets: list[int] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            for i in range(TICKETS):
                # Opened ten seconds ago: the sweep, which leaves a new ticket five seconds
                # to its task, may take any of them.
                ticket = ticket_open(
                    customer=self.customers[i % len(self.customers)],
                    subject=f"Ticket {i}",
                    body="The server does not answer.",
                    category=Category.VPS,
                    channel=Channel.WEB,
                    now=timezone.now() - dt.timedelta(seconds=10),
                )
                self.tickets.append(ticket.pk)
                time.sleep(0.1)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()


def acknowledged(ticket_ids: list[int]) -> int:
    return Clock.objects.filter(
        ticket_id__in=ticket_ids, metric=Metric.ACKNOWLEDGEMENT, met_at__isnull=False
    ).count()


def test_a_killed_worker_leaves_each_acknowledgement_and_email_to_go_out_once(queue, workers, sink):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    support_structure_setup()
    customers = [make_customer() for _ in range(5)]
    feeder = Feeder(customers)
    tickets = feeder.tickets
    emails = OutboundEmail.objects.filter(ticket__customer__in=customers, purpose="acknowledgement")

    worker = workers(EMAIL_URL=sink.url)
    wait_for(worker.ready, "the worker is ready")
    feeder.start()
    wait_for(lambda: sink.total() >= 10, "the worker is sending acknowledgements", TIMEOUT)
    # The MTA slows down; the worker dies while both its processes wait for it.
    sink.held = True
    wait_for(lambda: sink.waiting >= 2, "both pool processes are sending", TIMEOUT)
    worker.kill()
    wait_for(lambda: sink.waiting == 0, "the sink saw the worker's connections go", TIMEOUT)
    sink.held = False

    at_kill = {
        "opened": len(tickets),
        "acknowledged": acknowledged(tickets),
        "emailed": sink.total(),
        "sending": emails.filter(state=OutboundEmail.State.SENDING).count(),
    }
    # Killed mid-work: two emails in flight (the acknowledgements may all be in already on a
    # loaded machine, where the feeder opens them slower than the worker answers).
    assert at_kill["sending"] == 2, "the two messages the sink never accepted stay claimed"
    assert held_by_workers(broker, queue), "the dead worker held deliveries it never finished"

    workers(EMAIL_URL=sink.url)
    feeder.join(TIMEOUT)
    assert len(tickets) == TICKETS, feeder.errors
    deadline = time.monotonic() + TIMEOUT
    while (
        acknowledged(tickets) < TICKETS or emails.filter(state=OutboundEmail.State.PENDING).exists()
    ):
        assert time.monotonic() < deadline, "the sweep and the new worker did not catch up"
        sla_tasks.sweep()  # what beat runs: the acknowledgements and emails whose task was lost
        time.sleep(1)
    # Five minutes on, the sweep hands the rows a dead worker claimed to the new one.
    later = timezone.now() + dt.timedelta(seconds=notifications.STUCK_SENDING_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        for outbound_id in notifications.outbox_due(now=later):
            email_deliver.delay(outbound_id)
    wait_for(
        lambda: not emails.exclude(state=OutboundEmail.State.SENT).exists(),
        "every acknowledgement email is sent",
        TIMEOUT,
    )
    # An hour on, Redis hands the dead worker's deliveries to the live one: nothing to claim.
    redelivered = redeliver_held(broker, queue)
    wait_for(
        lambda: broker.llen(queue) == 0 and not held_by_workers(broker, queue),
        "the workers have run every delivery",
        TIMEOUT,
    )

    each = Ticket.objects.filter(pk__in=tickets).annotate(
        system=Count("messages", filter=Q(messages__kind=Message.Kind.SYSTEM), distinct=True),
        emails=Count(
            "outbound_emails", filter=Q(outbound_emails__purpose="acknowledgement"), distinct=True
        ),
    )
    per_ticket = [(t.system, t.emails) for t in each]
    message_ids = set(emails.values_list("rfc_message_id", flat=True))
    counts_line(
        test="killed_worker",
        sent=TICKETS,
        stored=len(per_ticket),
        acknowledged=acknowledged(tickets),
        emailed=sink.total(),
        acknowledged_at_kill=at_kill["acknowledged"],
        emailed_at_kill=at_kill["emailed"],
        claimed_at_kill=at_kill["sending"],
        redelivered=redelivered,
        duplicates=sink.duplicates() + sum(s + e - 2 for s, e in per_ticket if (s, e) != (1, 1)),
    )
    assert set(per_ticket) == {(1, 1)}, "each ticket: one acknowledgement and one email"
    assert set(sink.accepted) == message_ids, "every email accepted, none other"
    assert sink.duplicates() == 0, "no email accepted twice"
    assert redelivered > 0
