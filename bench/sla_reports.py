"""What the managers' and operators' reads cost on a large database: the compliance summary,
the list of breaches, the dashboard and a /metrics scrape, on PostgreSQL.

    .venv/bin/python -m bench.sla_reports --name slar --redis-db 14
    .venv/bin/python -m bench.sla_reports --tickets 300000 --repeat 10

Seeds `--tickets` tickets over a year (bench.harness.seed: four clocks each, the overdue ones
breached) and records a Breach for every breached clock, as the sweep would. Then each read
runs `--repeat` times in this process through the whole Django stack (django.test.Client:
middleware, view, template or serializer); printed: SQL statements per request and the
median and slowest time. No web server: these are single requests, not a load test.
"""

import argparse
import datetime
import statistics
import time

from bench.harness import environment, persons, report, seed

BREACHES_FROM_CLOCKS_SQL = """
INSERT INTO sla_breach (clock_id, ticket_id, team_id, metric, due_at, detected_at,
    managers_notified_at)
SELECT id, ticket_id, team_id, metric, due_at, breached_at, breached_at + interval '10 seconds'
FROM sla_clock WHERE breached_at IS NOT NULL;
ANALYZE sla_breach;
"""


def timed(call, repeat: int) -> tuple[float, float]:
    """Median and slowest wall time of `call`, in milliseconds, after one warm-up call."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    environment.add_arguments(parser)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench = environment.Bench.from_args(args)
    bench.setup()
    bench.database_recreate()
    people = persons.people_create(customers=4)
    seeded = seed.tickets_seed(args.tickets)

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from sla import selectors
    from sla.models import Breach, Clock

    with connection.cursor() as cursor:
        cursor.execute(BREACHES_FROM_CLOCKS_SQL)
    browser = Client()
    browser.force_login(people.manager.user)
    api = Client(HTTP_AUTHORIZATION=f"Token {people.manager.token}")
    now = timezone.now()

    def get(client, url, **extra):
        def call():
            response = client.get(url, **extra)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")

        return call

    reads = [
        (
            "summary selector, 7 days",
            lambda: selectors.compliance_summary(since=now - datetime.timedelta(days=7), until=now),
        ),
        (
            "summary selector, 30 days",
            lambda: selectors.compliance_summary(
                since=now - datetime.timedelta(days=30), until=now
            ),
        ),
        ("GET /api/v1/sla/summary/ (7 days)", get(api, "/api/v1/sla/summary/")),
        ("GET /api/v1/sla/breaches/ page 1", get(api, "/api/v1/sla/breaches/")),
        (
            "GET /api/v1/sla/breaches/?team=support&metric=resolution",
            get(api, "/api/v1/sla/breaches/?team=support&metric=resolution"),
        ),
        ("GET /dashboard/sla/ (7 days)", get(browser, "/dashboard/sla/")),
        ("GET /dashboard/sla/?window=30d", get(browser, "/dashboard/sla/?window=30d")),
        ("GET /metrics (loopback)", get(Client(), "/metrics", REMOTE_ADDR="127.0.0.1")),
    ]
    print(report.report_header("SLA reports: summary, breaches, dashboard, /metrics"))
    print(
        f"data:    {seeded.tickets} tickets ({seeded.active} open), "
        f"{Clock.objects.count()} clocks, {Breach.objects.count()} breaches; "
        f"seeded in {seeded.seconds:.1f} s"
    )
    print(f"{'read':58} {'SQL':>4} {'median ms':>10} {'max ms':>8}")
    for title, call in reads:
        statements, _sql = report.queries_of(call)
        median, slowest = timed(call, args.repeat)
        print(f"{title:58} {statements:>4} {median:>10.1f} {slowest:>8.1f}")


if __name__ == "__main__":
    main()
