"""Breach detection lag: how long after a clock's `due_at` its breach is recorded, with the
real beat and worker of the Procfile on PostgreSQL and Redis.

    .venv/bin/python -m bench.sla_breach_lag --name proof --redis-db 6
    .venv/bin/python -m bench.sla_breach_lag --clocks 300 --window 60 --tickets 10000

Seeds `--tickets` tickets (bench.harness.seed, then as bench.sla_sweep leaves them: breaches
recorded, status updates reminded), then gives `--clocks` running clocks of open tickets
(status updates and resolutions) deadlines spread evenly over `--window` seconds, starting
`--lead` seconds ahead so that the beat and the worker are up first. `celery beat` sends the
sweep every SLA_SWEEP_SECONDS (10 by default, as the Procfile runs it) and the worker runs it.

Two lags per clock: `detected_at - due_at` (the sweep's own clock, written into the Breach)
and when this process first saw the committed Breach (polling every 0.1 s) minus `due_at`.
The aim is under 15 s; peers sweep every 5 minutes or every hour.
"""

import argparse
import datetime
import os
import time

from bench.harness import environment, persons, processes, report, seed
from bench.sla_sweep import AS_LIVE_SQL, DUE_CANDIDATES_SQL

POLL_SECONDS = 0.1

# Deadlines `lead` seconds ahead, one every window/n seconds. Already warned, as they would
# have been five minutes before in a steady flow (all warnings in the first sweep would queue
# hundreds of emails ahead of the next sweeps); not reminded, so the sweep does for them
# everything it does for a missed promise.
SCHEDULE_SQL = """
DELETE FROM sla_breach WHERE clock_id = ANY(%(ids)s);
UPDATE sla_clock AS c
SET due_at = %(start)s + s.n * %(step)s, breached_at = NULL, warned_at = %(start)s,
    reminded_at = NULL
FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS s(id, n)
WHERE c.id = s.id;
ANALYZE sla_clock;
"""


class Beat(processes._Process):
    """The `beat` process of the Procfile: `celery beat`, with a fresh schedule file so that
    the first sweep goes out when it starts."""

    name = "beat"

    def command(self) -> list[str]:
        return [str(environment.BIN_DIR / "celery"), "-A", "helpdesk", "beat", "--loglevel", "INFO"]

    def start(self):
        (self.bench.var_dir / "celerybeat-schedule").unlink(missing_ok=True)
        return super().start()

    def ready(self) -> bool:
        return b"beat: Starting" in self.log.read_bytes()


def schedule(count: int, lead: float, window: float) -> tuple[list[int], datetime.datetime]:
    from django.db import connection, transaction
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(DUE_CANDIDATES_SQL, {"due": count})
        ids = [row[0] for row in cursor.fetchall()]
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} open clocks to schedule; seed more --tickets")
    start = timezone.now() + datetime.timedelta(seconds=lead)
    step = datetime.timedelta(seconds=window / count)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SCHEDULE_SQL, {"ids": ids, "start": start - step, "step": step})
    return ids, start


def watch(ids: list[int], until: float) -> dict[int, float]:
    """Wall time (epoch seconds) at which each clock's Breach was first seen committed."""
    from sla.models import Breach

    seen: dict[int, float] = {}
    while len(seen) < len(ids) and time.time() < until:
        now = time.time()
        for clock_id in (
            Breach.objects.filter(clock_id__in=ids)
            .exclude(clock_id__in=list(seen))
            .values_list("clock_id", flat=True)
        ):
            seen[clock_id] = now
        time.sleep(POLL_SECONDS)
    return seen


def summary(values: list[float]) -> str:
    return (
        f"p50 {report.percentile(values, 50):5.1f} s, p95 {report.percentile(values, 95):5.1f} s, "
        f"p99 {report.percentile(values, 99):5.1f} s, max {max(values, default=float('nan')):5.1f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_breach_lag", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets seeded first")
    parser.add_argument("--clocks", type=int, default=300, help="deadlines to miss")
    parser.add_argument("--window", type=float, default=60, help="seconds they are spread over")
    parser.add_argument("--lead", type=float, default=20, help="seconds before the first one")
    parser.add_argument(
        "--sweep-seconds",
        type=int,
        default=int(os.environ.get("SLA_SWEEP_SECONDS", "10")),
        help="the beat's interval (SLA_SWEEP_SECONDS)",
    )
    args = parser.parse_args(argv)

    os.environ["SLA_SWEEP_SECONDS"] = str(args.sweep_seconds)  # the beat and the worker read it
    bench = environment.Bench.from_args(args)
    bench.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    bench.database_recreate()
    persons.people_create(customers=1)
    seeded = seed.tickets_seed(args.tickets)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(AS_LIVE_SQL, {"now": timezone.now()})
    ids, start = schedule(args.clocks, args.lead, args.window)

    from django.db.models import F

    from sla.models import Breach

    print(report.report_header("SLA breach detection lag: beat + worker"))
    print(
        f"setup:   {seeded.tickets} tickets seeded; {args.clocks} deadlines over "
        f"{args.window:.0f} s from {start:%H:%M:%S}; beat every {args.sweep_seconds} s, "
        f"celery prefork x{bench.worker_concurrency}"
    )
    with processes.Worker(bench), Beat(bench):
        seen = watch(ids, until=start.timestamp() + args.window + 6 * args.sweep_seconds + 30)
        load = report.load_average()
    breaches = list(
        Breach.objects.filter(clock_id__in=ids).values_list("clock_id", "due_at", "detected_at")
    )
    detected = [(found - due).total_seconds() for _id, due, found in breaches]
    committed = [seen[clock_id] - due.timestamp() for clock_id, due, _found in breaches]
    sweeps = len({found for _id, _due, found in breaches})
    print(f"breached {len(breaches)}/{len(ids)} in {sweeps} sweeps; load {load}")
    print(f"detected_at - due_at:      {summary(detected)}")
    print(f"seen committed - due_at:   {summary(committed)}")
    early = Breach.objects.filter(clock_id__in=ids, detected_at__lt=F("due_at")).count()
    if early:
        print(f"ERROR: {early} breaches detected before their deadline")


if __name__ == "__main__":
    main()
