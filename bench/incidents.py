"""One incident, 1,000 linked tickets: how long until the last thread has a public update, what
it costs per ticket, and how the public status page answers 50 clients while it happens.

    .venv/bin/python -m bench.incidents --name inc --redis-db 5
    .venv/bin/python -m bench.incidents --linked 1000 --status-clients 50 --tickets 10000

First, in this process with no worker running, one update is fanned out by the use case itself
(`usecases.incidents.fanout_batch`, batch after batch): SQL statements per ticket (BEGIN and
COMMIT counted) and tickets per second on one connection. Then the processes of the Procfile
start (uvicorn, a Celery prefork worker); `--status-clients` anonymous clients load `/status/`
(one keep-alive connection each, closed loop), first alone for `--idle` seconds, then while an
agent posts a second update through the API and the worker fans it out. Printed: the API's
answer, the time from the request until the first, the median and the last thread have the
update (polled every 20 ms), and `/status/` p50/p99 while idle and during the fan-out.
"""

import argparse
import threading
import time

from bench.harness import environment, httpclient, persons, processes, report, seed

POLL_SECONDS = 0.02
WAIT_SECONDS = 600


def linked_tickets_open(count: int, customers: int) -> list[int]:
    """`count` requests at the Amsterdam site from `customers` customers, half of them
    Italian, opened through the use case (clocks, first message) in one transaction."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.services import customer_upsert
    from tickets.models import Category, Channel
    from usecases.tickets import ticket_open

    people = [
        customer_upsert(
            username=f"outage-customer-{n}",
            email=f"outage-customer-{n}@example.com",
            language="it" if n % 2 else "en",
            timezone="Europe/Rome" if n % 2 else "UTC",
        )
        for n in range(customers)
    ]
    now = timezone.now()
    with transaction.atomic():
        return [
            ticket_open(
                customer=people[i % customers],
                subject=f"Server srv{i} in Amsterdam unreachable",
                body="It stopped answering a few minutes ago.",
                category=Category.DEDICATED,
                channel=Channel.WEB,
                data_center="ams",
                now=now,
            ).pk
            for i in range(count)
        ]


class StatusLoad:
    """Anonymous readers of the status page, each on its own connection, as fast as answered."""

    def __init__(self, *, port: int, clients: int):
        self.port, self.clients = port, clients
        self.samples: list[tuple[float, float]] = []  # (finished at, seconds)
        self.errors: list[int] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        client = httpclient.HttpClient(self.port)
        client.headers["Accept"] = "text/html"
        try:
            while not self.stop.is_set():
                status, _body, seconds = client.request("GET", "/status/")
                with self.lock:
                    if status == 200:
                        self.samples.append((time.perf_counter(), seconds))
                    else:
                        self.errors.append(status)
        finally:
            client.close()

    def between(self, start: float, end: float) -> list[float]:
        with self.lock:
            return [seconds for at, seconds in self.samples if start <= at <= end]

    def __enter__(self) -> "StatusLoad":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def delivered_count(update_id: int) -> int:
    from incidents.models import Delivery

    return Delivery.objects.filter(update_id=update_id, delivered_at__isnull=False).count()


def milestones(update_id: int, total: int, started: float) -> dict[str, float]:
    """Seconds from `started` until the first, half and every delivery of the update is done."""
    reached: dict[str, float] = {}
    marks = {"first": 1, "half": (total + 1) // 2, "last": total}
    deadline = time.monotonic() + WAIT_SECONDS
    while len(reached) < len(marks) and time.monotonic() < deadline:
        done = delivered_count(update_id)
        for name, mark in marks.items():
            if done >= mark and name not in reached:
                reached[name] = time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    return reached


def summary(samples: list[float]) -> str:
    figures = report.latency_summary(samples)
    return (
        f"p50 {figures['p50_ms']:6.1f} ms, p99 {figures['p99_ms']:6.1f} ms, "
        f"max {figures['max_ms']:6.1f} ms ({len(samples)} requests)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.incidents", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument("--linked", type=int, default=1000, help="tickets linked to the incident")
    parser.add_argument("--customers", type=int, default=200, help="their customers")
    parser.add_argument("--tickets", type=int, default=10_000, help="other tickets seeded first")
    parser.add_argument("--status-clients", type=int, default=50, help="status page readers")
    parser.add_argument("--idle", type=float, default=5, help="seconds of status load alone")
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    from django.utils import timezone

    from incidents.models import IncidentUpdate
    from usecases import incidents

    bench.database_recreate()
    people = persons.people_create(customers=1)
    if args.tickets:
        seed.tickets_seed(args.tickets)
    started = time.perf_counter()
    ticket_ids = linked_tickets_open(args.linked, args.customers)
    opened = time.perf_counter() - started
    agent = people.agent.user
    incident = incidents.incident_open(
        actor=agent,
        title="Power failure in Amsterdam",
        description="A power feed of the Amsterdam data center failed; servers are down.",
        data_center="ams",
        now=timezone.now(),
    )
    link_queries, _sql = report.queries_of(
        lambda: incidents.tickets_link(
            incident_id=incident.pk, actor=agent, ticket_ids=ticket_ids, now=timezone.now()
        )
    )

    print(report.report_header(f"Incident fan-out to {args.linked} linked tickets"))
    print(
        f"setup:   {args.tickets} tickets seeded, {args.linked} opened for the incident "
        f"({args.customers} customers, half Italian) in {opened:.0f} s; linking them all: one "
        f"call, {link_queries} statements; uvicorn x{bench.web_workers}, celery prefork "
        f"x{bench.worker_concurrency}"
    )

    # In this process, no worker: what one ticket costs.
    incidents.incident_update(
        incident_id=incident.pk,
        actor=agent,
        body="We have identified a failed power feed.",
        status="identified",
        now=timezone.now(),
    )
    environment.queue_purge()  # the task it enqueued: this process does the work itself
    posted, statements, batch = 0, 0, [1]
    started = time.perf_counter()
    while batch[-1]:
        count, _sql = report.queries_of(
            lambda: batch.append(incidents.fanout_batch(now=timezone.now()))
        )
        if batch[-1]:
            statements += count
            posted += batch[-1]
    in_process = time.perf_counter() - started
    print(
        f"in process: {posted} threads in {in_process:.1f} s ({posted / in_process:.0f}/s on one "
        f"connection), {statements / posted:.1f} SQL statements per ticket"
    )

    with processes.Worker(bench), processes.Server(bench) as server:
        with StatusLoad(port=server.port, clients=args.status_clients) as load:
            time.sleep(1)  # every client connected
            idle_from = time.perf_counter()
            time.sleep(args.idle)
            idle_to = time.perf_counter()
            client = httpclient.HttpClient(server.port, token=people.agent.token)
            sent = time.perf_counter()
            status, _body, answer = client.request(
                "POST",
                f"/api/v1/incidents/{incident.pk}/updates/",
                {"body": "Power is back on one feed; servers are booting.", "status": "monitoring"},
            )
            client.close()
            if status != 201:
                raise SystemExit(f"posting the update answered {status}")
            update = IncidentUpdate.objects.latest("id")
            reached = milestones(update.pk, args.linked, sent)
            during = load.between(sent, sent + reached.get("last", WAIT_SECONDS))
            idle = load.between(idle_from, idle_to)
            errors = list(load.errors)
        machine_load = report.load_average()

    print(f"update via the API: answered {answer * 1000:.0f} ms (the fan-out runs in the worker)")
    print(
        "threads with the update after: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in reached.items())
        + (f" ({args.linked / reached['last']:.0f} threads/s)" if "last" in reached else "")
    )
    print(f"/status/ idle ({args.status_clients} clients):   {summary(idle)}")
    print(f"/status/ during the fan-out:        {summary(during)}")
    print(f"errors: {len(errors)} {sorted(set(errors))}; load {machine_load}")


if __name__ == "__main__":
    main()
