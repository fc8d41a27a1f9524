"""The beat restarted, then a second beat started by mistake beside it.

A worker and beat run as the Procfile runs them, with SLA_SWEEP_SECONDS=2. Promises fall due
one after another while the beat restarts (same machine, same schedule file) and while two
beats (two machines) each send every sweep: first responses missed (a breach each, told to the
manager), status updates owed (a reminder to the agent), resolutions late (a delay notice to
the customer), late acknowledgements. No sweep is missed for longer than its period plus 10 s,
and every notice goes out once: the sweep's claims, not the number of beats, decide.
"""

import datetime as dt
import itertools
import re
import time
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from sla.models import Breach
from teams.models import Team
from teams.services import support_structure_setup
from tests import factories
from tests.faults.conftest import SWEEP_SECONDS, counts_line, wait_for, worker_ready
from tickets.models import Category, Channel, Message, OutboundEmail, Ticket
from usecases.tickets import ticket_open

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# Seconds from the start at which each ticket's first response, or status update, falls due:
# spread over the restart and the two beats.
DUE_AFTER = range(10, 34, 3)
MAX_GAP_SECONDS = SWEEP_SECONDS + 10
SWEEP_RUN = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*Task sla\.sweep\[[^]]+\] succeeded", re.M
)


def sweeps_run(*logs: str) -> list[dt.datetime]:
    return sorted(
        dt.datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f")
        for log in logs
        for at in SWEEP_RUN.findall(log)
    )


def breach_lines(bodies: list[str], reference: str) -> int:
    return sum(body.count(f"- {reference} ") for body in bodies)


def test_a_restarted_beat_and_two_beats_miss_no_sweep_and_send_each_notice_once(
    queue, sink, stack_of
):
    support_structure_setup()
    factories.make_agent(
        username="laura", teams=(Team.objects.get(slug="management"),), manager=True
    )
    factories.make_agent(username="giulia", teams=(Team.objects.get(slug="support"),))
    customer = factories.make_customer(username="carla")
    start = timezone.now()

    def opened(ago: dt.timedelta, subject: str) -> int:
        return ticket_open(
            customer=customer,
            subject=subject,
            body="The server does not answer.",
            category=Category.VPS,
            channel=Channel.WEB,
            now=start - ago,
        ).pk

    first_response = dt.timedelta(minutes=10)
    status_update = dt.timedelta(hours=4)
    missed = [opened(first_response - dt.timedelta(seconds=s), f"Missed {s}") for s in DUE_AFTER]
    owed = [opened(status_update - dt.timedelta(seconds=s), f"Owed {s}") for s in DUE_AFTER]
    tickets = missed + owed

    stack = stack_of(settings.REDIS_URL, sink.url, queue=queue)
    worker = stack.worker()
    beat = stack.beat("a")
    wait_for(lambda: worker_ready(worker), "the worker is ready")
    wait_for(lambda: sweeps_run(worker.text()), "the first sweep ran")

    def until(seconds: float) -> None:
        """Let the stack run until `seconds` after the start, watching that it lives."""
        while (timezone.now() - start).total_seconds() < seconds:
            assert worker.alive(), worker.text()[-3000:]
            time.sleep(0.2)

    until(12)
    beat.stop()  # a deployment restarts it
    restarted_at = dt.datetime.now()  # the workers' log speaks local time
    stack.beat("a")
    until(20)
    second = stack.beat("b")  # and a second machine starts one too
    until(max(DUE_AFTER) + 6)
    second.stop()
    watched_until = dt.datetime.now()

    owed_notices = OutboundEmail.objects.filter(ticket_id__in=owed, purpose="status_update_due")
    wait_for(
        lambda: (
            Breach.objects.filter(ticket_id__in=missed, metric="first_response").count()
            == len(missed)
            and owed_notices.values("ticket_id").distinct().count() == len(owed)
            and not OutboundEmail.objects.exclude(state=OutboundEmail.State.SENT).exists()
        ),
        "every promise due is breached or reminded, and every email sent",
    )
    stack.stop()
    redis.Redis.from_url(settings.REDIS_URL).delete(f"{queue}.sweeps")

    runs = sweeps_run(*(p.text() for p in stack.processes if p.name == "worker"))
    runs = [at for at in runs if at <= watched_until]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(runs)]
    tail = (watched_until - runs[-1]).total_seconds()
    breaches = Breach.objects.filter(ticket_id__in=tickets)
    alerts = list(
        OutboundEmail.objects.filter(purpose="breach_alert").values_list("body_text", flat=True)
    )
    references = dict(Ticket.objects.filter(pk__in=tickets).values_list("pk", "reference"))
    alerted = Counter({pk: breach_lines(alerts, ref) for pk, ref in references.items()})
    breached = Counter(breaches.values_list("ticket_id", flat=True))
    each = Ticket.objects.filter(pk__in=tickets).annotate(
        system=Count("messages", filter=Q(messages__kind=Message.Kind.SYSTEM), distinct=True),
        acks=Count(
            "outbound_emails", filter=Q(outbound_emails__purpose="acknowledgement"), distinct=True
        ),
        delays=Count("outbound_emails", filter=Q(outbound_emails__purpose="status"), distinct=True),
        reminders=Count(
            "outbound_emails",
            filter=Q(outbound_emails__purpose="status_update_due"),
            distinct=True,
        ),
        resolution_breached=Count(
            "breaches", filter=Q(breaches__metric="resolution"), distinct=True
        ),
    )
    twice = sum(
        max(0, t.acks - 1)
        + max(0, t.reminders - 1)
        + max(0, t.delays - t.resolution_breached)
        + max(0, t.system - 1 - t.resolution_breached)
        for t in each
    ) + sum(max(0, alerted[pk] - breached[pk]) for pk in references)
    counts_line(
        test="beat",
        sent=len(tickets),
        stored=each.count(),
        acknowledged=sum(1 for t in each if t.acks == 1),
        breaches=breaches.count(),
        breach_alert_lines=sum(alerted.values()),
        reminders=owed_notices.count(),
        delay_notices=sum(t.delays for t in each),
        emailed=sink.total(),
        sweeps=len(runs),
        beats_seen=len(stack.processes) - 1,
        max_gap_s=round(max([*gaps, tail]), 1),
        duplicates=twice + sink.duplicates(),
    )

    assert max([*gaps, tail]) <= MAX_GAP_SECONDS, (gaps, tail)
    assert any(at > restarted_at for at in runs)
    assert alerted == breached, "each breach told to the manager once"
    assert {(t.acks, t.reminders > 0 or t.pk in missed) for t in each} == {(1, True)}
    assert all(t.reminders == 1 for t in each if t.pk in owed), "each status update reminded once"
    assert all(t.delays == t.resolution_breached for t in each), [
        (t.pk, t.delays, t.resolution_breached, t.system) for t in each
    ]
    assert breaches.values("clock_id").distinct().count() == breaches.count()
    assert sink.duplicates() == 0
    assert sink.total() == OutboundEmail.objects.count()
