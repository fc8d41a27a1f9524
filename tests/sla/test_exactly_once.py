"""The acknowledgement goes out exactly once, on PostgreSQL, with a real Celery worker.

500 tickets wait for a worker that is not running yet, each with its on-commit task and a
duplicate delivery. The worker starts while two sweeps race it (and each other) on their own
connections; it is killed with SIGKILL while acknowledging; a new worker takes the queue, the
sweeps take what the dead one held, and those held tasks come back as Redis redelivers them
after the visibility timeout. Every ticket ends with one acknowledgement (one system message,
one email), its clock met within its target, and no breach.

Polling the database with a bounded timeout waits for the external worker; no deadline here
depends on it (deadlines are in test_deadlines.py, on time-machine).
"""

import datetime as dt
import threading
import time

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from jobs import tasks as sla_tasks
from sla.models import Breach, Clock
from sla.policy import Metric, acknowledgement_target
from sla.services import acknowledgement
from teams.services import support_structure_setup
from tests.factories import make_customer
from tests.workers import TIMEOUT, held_by_workers, redeliver_held, wait_until
from tickets.models import Category, Channel, Message, Ticket
from usecases.tickets import ticket_open

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKETS = 500


def tickets_open(n: int, *, customers, ago: dt.timedelta) -> list[int]:
    """`n` tickets through `ticket_open`, opened `ago` and committed together: their on-commit
    acknowledgement tasks reach the broker in one burst, as after a busy minute."""
    with transaction.atomic():
        return [
            ticket_open(
                customer=customers[i % len(customers)],
                subject=f"Ticket {i}",
                body="The server does not answer.",
                category=Category.VPS,
                channel=Channel.WEB,
                now=timezone.now() - ago,
            ).pk
            for i in range(n)
        ]


def acknowledged(ticket_ids: list[int]) -> int:
    return Clock.objects.filter(
        ticket_id__in=ticket_ids, metric=Metric.ACKNOWLEDGEMENT, met_at__isnull=False
    ).count()


class Sweeps:
    """Two beats' sweeps overlapping, each in its own thread with its own connection, running
    the sweep task function again and again until every acknowledgement is out."""

    def __init__(self, ticket_ids: list[int]):
        self.ticket_ids = ticket_ids
        self.acknowledged = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                result = sla_tasks.sweep()
                with self._lock:
                    self.acknowledged += result["acknowledged"]
                if acknowledged(self.ticket_ids) == len(self.ticket_ids):
                    return
                # The beat's pace is 10 s; a pause keeps the emails each sweep resends few.
                time.sleep(1)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> "Sweeps":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for thread in self.threads:
            thread.join(TIMEOUT)
        assert not self.errors, self.errors


def assert_acknowledged_exactly_once(ticket_ids: list[int]) -> None:
    target = dt.timedelta(seconds=acknowledgement_target(Channel.WEB))
    tickets = Ticket.objects.filter(pk__in=ticket_ids).annotate(
        system=Count("messages", filter=Q(messages__kind=Message.Kind.SYSTEM), distinct=True),
        emails=Count(
            "outbound_emails", filter=Q(outbound_emails__purpose="acknowledgement"), distinct=True
        ),
    )
    counts = {(t.system, t.emails) for t in tickets}
    assert counts == {(1, 1)}, "each ticket: one acknowledgement message and one email"
    clocks = Clock.objects.filter(ticket_id__in=ticket_ids, metric=Metric.ACKNOWLEDGEMENT)
    assert clocks.count() == len(ticket_ids)
    for clock in clocks:
        assert clock.met_at is not None
        assert clock.met_at - clock.started_at <= target, clock
    assert not Breach.objects.filter(ticket_id__in=ticket_ids).exists()


def test_each_ticket_is_acknowledged_once_despite_duplicates_racing_sweeps_and_a_killed_worker(
    queue, workers
):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    support_structure_setup()
    customers = [make_customer() for _ in range(10)]

    # The tickets were opened ten seconds ago while no worker ran: the sweeps, which leave a
    # new ticket five seconds to its task, may take every one of them too.
    tickets = tickets_open(TICKETS, customers=customers, ago=dt.timedelta(seconds=10))
    for ticket_id in tickets:
        sla_tasks.acknowledgement_send.delay(ticket_id)  # the same task, delivered twice
    assert broker.llen(queue) == 2 * TICKETS

    worker = workers()
    wait_until(worker.ready, "the worker is ready")
    with Sweeps(tickets) as sweeps:
        # The worker dies mid-stream: no chance to roll back, to acknowledge its messages or
        # to enqueue the emails of what it committed.
        wait_until(
            lambda: worker.runs("sla.acknowledgement_send") >= 50, "the worker is acknowledging"
        )
        worker.kill()
        assert acknowledged(tickets) < TICKETS, "killed after the work was done: nothing proven"
        assert held_by_workers(broker, queue), "the dead worker held tasks it never finished"
        workers()
        wait_until(lambda: acknowledged(tickets) == TICKETS, "every ticket is acknowledged")
    # An hour later Redis hands the dead worker's tasks to the live one: nothing to claim.
    assert redeliver_held(broker, queue) > 0
    wait_until(
        lambda: broker.llen(queue) == 0 and not held_by_workers(broker, queue),
        "the workers have run every delivery",
    )

    assert_acknowledged_exactly_once(tickets)
    assert not acknowledgement.acknowledgements_missing(now=timezone.now(), grace_seconds=0)
    # Both the sweeps and the workers won claims: the race did take place.
    assert 0 < sweeps.acknowledged < TICKETS
