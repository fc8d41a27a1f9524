"""Ticket creation through the API: `POST /api/v1/tickets/` against a real uvicorn, with a real
Celery worker sending the acknowledgements, on PostgreSQL.

    .venv/bin/python -m bench.tickets_create --name bt --redis-db 3
    .venv/bin/python -m bench.tickets_create --connections 4 --duration 30 --web-workers 2

For each number of connections, that many threads each hold one keep-alive connection and
open tickets (token auth, one customer per connection) one after the other for `--duration`
seconds. Printed: tickets/s, latency p50/p95/p99/max, errors; then how long the worker took
to acknowledge them (from the ticket's opening to its acknowledgement) and to drain its queue,
and the CPU time the web and worker processes spent per ticket (steadier than wall time on a
machine others load).

SQL per creation is counted in this process with django's CaptureQueriesContext around one
request through the whole stack (django.test.Client: middleware, DRF view, `ticket_open`,
rendering), then around the two tasks the worker runs for it (acknowledgement, its email).
"""

import argparse
import datetime
import threading
import time

from bench.harness import environment, httpclient, persons, processes, report, seed

BODY = {
    "subject": "The server does not answer on port 443",
    "body": "Since this morning https times out; ping works. I rebooted it once.",
    "category": "vps",
    "priority": "normal",
}
ACK_WAIT_SECONDS = 120


def queries_per_creation(people: persons.People) -> dict[str, int]:
    """Statements for one creation: the request, then each task the worker runs for it."""
    from django.test import Client
    from django.utils import timezone

    from sla.models import Clock
    from sla.services.acknowledgement import acknowledgement_send
    from tickets.models import OutboundEmail
    from tickets.notifications import email_deliver

    client = Client(HTTP_AUTHORIZATION=f"Token {people.customers[0].token}")
    client.post("/api/v1/tickets/", BODY, content_type="application/json")  # warm caches
    answers = []
    request, _sql = report.queries_of(
        lambda: answers.append(
            client.post("/api/v1/tickets/", BODY, content_type="application/json")
        )
    )
    if answers[0].status_code != 201:
        raise RuntimeError(f"creation answered {answers[0].status_code}: {answers[0].content!r}")
    ticket_id = answers[0].json()["id"]
    ack, _sql = report.queries_of(
        lambda: acknowledgement_send(ticket_id=ticket_id, now=timezone.now())
    )
    outbound = OutboundEmail.objects.get(ticket_id=ticket_id, purpose="acknowledgement")
    email, _sql = report.queries_of(
        lambda: email_deliver(outbound_id=outbound.pk, now=timezone.now())
    )
    # The tasks these calls enqueued are done already: the worker must not see them.
    environment.queue_purge()
    assert Clock.objects.filter(ticket_id=ticket_id, met_at__isnull=False).exists()
    return {"request": request, "acknowledgement task": ack, "email task": email}


def open_tickets(
    port: int, token: str, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    client = httpclient.HttpClient(port, token=token)
    try:
        while time.perf_counter() < deadline:
            status, _body, seconds = client.request("POST", "/api/v1/tickets/", BODY)
            if status == 201:
                latencies.append(seconds)
            else:
                errors.append(status)
    finally:
        client.close()


def run_level(
    server: processes.Server,
    worker: processes.Worker,
    people: persons.People,
    connections: int,
    duration: float,
) -> dict:
    from django.utils import timezone

    cpu_before = server.cpu_seconds(), worker.cpu_seconds()
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[int] = []
    opened_from = timezone.now()
    started = time.perf_counter()
    deadline = started + duration
    threads = [
        threading.Thread(
            target=open_tickets,
            args=(
                server.port,
                people.customers[n % len(people.customers)].token,
                deadline,
                latencies[n],
                errors,
            ),
        )
        for n in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [s for per_connection in latencies for s in per_connection]
    acknowledged = acknowledgements(opened_from, ended=timezone.now())
    per_ticket = 1000 / max(len(samples), 1)
    return {
        # CPU the web and the worker processes spent per ticket (the worker's counted until it
        # acknowledged them all): what the load of others does not change much.
        "web_cpu_ms": (server.cpu_seconds() - cpu_before[0]) * per_ticket,
        "worker_cpu_ms": (worker.cpu_seconds() - cpu_before[1]) * per_ticket,
        "connections": connections,
        "created": len(samples),
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "seconds": elapsed,
        "per_second": len(samples) / elapsed,
        **report.latency_summary(samples),
        **acknowledged,
    }


def acknowledgements(opened_from: datetime.datetime, ended: datetime.datetime) -> dict:
    """Wait until the worker acknowledged every ticket opened since `opened_from`; how long it
    took per ticket (opening to acknowledgement) and after the last creation (drain)."""
    from django.db.models import F

    from sla.models import Clock
    from sla.policy import Metric

    clocks = Clock.objects.filter(metric=Metric.ACKNOWLEDGEMENT, started_at__gte=opened_from)
    wait_until = time.monotonic() + ACK_WAIT_SECONDS
    while clocks.filter(met_at__isnull=True).exists() and time.monotonic() < wait_until:
        time.sleep(0.2)
    delays = [
        delay.total_seconds()
        for delay in clocks.filter(met_at__isnull=False)
        .annotate(delay=F("met_at") - F("started_at"))
        .values_list("delay", flat=True)
    ]
    last_met = clocks.order_by("-met_at").values_list("met_at", flat=True).first()
    return {
        "unacknowledged": clocks.filter(met_at__isnull=True).count(),
        "ack_p50_s": report.percentile(delays, 50),
        "ack_p95_s": report.percentile(delays, 95),
        "ack_max_s": max(delays, default=float("nan")),
        "drain_s": max(0.0, (last_met - ended).total_seconds()) if last_met else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tickets_create", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[1, 4],
        help="concurrent connections, one run per value",
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds per run")
    parser.add_argument(
        "--tickets", type=int, default=10_000, help="tickets in the database before the runs"
    )
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up first")
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    bench.database_recreate()
    people = persons.people_create(customers=max(args.connections))
    seeded = seed.tickets_seed(args.tickets) if args.tickets else None
    queries = queries_per_creation(people)

    print(report.report_header("Ticket creation: POST /api/v1/tickets/"))
    print(
        f"setup:   {args.tickets} tickets seeded"
        + (f" in {seeded.seconds:.1f} s" if seeded else "")
        + f"; uvicorn x{bench.web_workers}, celery prefork x{bench.worker_concurrency}"
    )
    print(
        "queries: "
        + ", ".join(f"{name} {count}" for name, count in queries.items())
        + " (CaptureQueriesContext, in process)"
    )
    with processes.Worker(bench) as worker, processes.Server(bench) as server:
        run_level(server, worker, people, max(args.connections), args.warmup)
        print(
            f"{'conn':>4} {'tickets/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} {'created':>7} {'errors':>6}   "
            f"{'ack p50 s':>9} {'ack p95 s':>9} {'drain s':>7}   "
            f"{'CPU ms/ticket web':>17} {'worker':>6} {'load':>14}"
        )
        for connections in args.connections:
            level = run_level(server, worker, people, connections, args.duration)
            print(
                f"{level['connections']:>4} {level['per_second']:>9.1f} {level['p50_ms']:>7.1f} "
                f"{level['p95_ms']:>7.1f} {level['p99_ms']:>7.1f} {level['max_ms']:>7.1f} "
                f"{level['created']:>7} {level['errors']:>6}   "
                f"{level['ack_p50_s']:>9.2f} {level['ack_p95_s']:>9.2f} "
                f"{level['drain_s']:>7.2f}   {level['web_cpu_ms']:>17.1f} "
                f"{level['worker_cpu_ms']:>6.1f} {report.load_average():>14}"
            )
            if level["errors"] or level["unacknowledged"]:
                print(
                    f"     errors {level['error_statuses']}, "
                    f"{level['unacknowledged']} not acknowledged after {ACK_WAIT_SECONDS} s"
                )


if __name__ == "__main__":
    main()
