"""Acknowledgement latency end to end: from the API request that opens a ticket to the
acknowledgement stored in its thread, at a steady rate, with the processes of the Procfile
(uvicorn, a Celery prefork worker, beat) on PostgreSQL and Redis. The seeded tickets are left
as the live sweep leaves them (bench.sla_sweep), so that the beat has no backlog to catch up.

    .venv/bin/python -m bench.sla_ack_latency --name proof --redis-db 6
    .venv/bin/python -m bench.sla_ack_latency --rate 20 --duration 60 --tickets 10000

Request k is sent at start + k / rate (open loop: a slow answer does not slow the schedule,
up to `--clients` requests in flight, one keep-alive connection each). The latency of a ticket
is the `created_at` of its acknowledgement (the system message the worker stores, on this
machine's clock) minus the wall time at which its request was sent. The promise is 120 s; the
aim is p99 under 2 s. Also printed: the API's own answer time, how late the schedule ran, and
how many were acknowledged more than 5 s after opening (from then on the beat's sweep may send
them too).
"""

import argparse
import datetime
import itertools
import json
import threading
import time

from bench.harness import environment, httpclient, persons, processes, report, seed
from bench.sla_breach_lag import Beat
from bench.sla_sweep import AS_LIVE_SQL

BODY = {
    "subject": "The server does not answer on port 443",
    "body": "Since this morning https times out; ping works. I rebooted it once.",
    "category": "vps",
    "priority": "normal",
}
ACK_WAIT_SECONDS = 130


class Load:
    """Open-loop requests at `rate` per second for `duration` seconds."""

    def __init__(self, *, port: int, tokens: list[str], rate: float, duration: float):
        self.port, self.tokens, self.rate = port, tokens, rate
        self.total = int(rate * duration)
        self.next = itertools.count()
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}  # ticket id -> wall time the request was sent
        self.answers: list[float] = []
        self.late: list[float] = []
        self.errors: list[int] = []

    def _client(self, token: str, start: float) -> None:
        client = httpclient.HttpClient(self.port, token=token)
        try:
            while (k := next(self.next)) < self.total:
                due = start + k / self.rate
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                late = time.perf_counter() - due
                sent = time.time()
                status, body, seconds = client.request("POST", "/api/v1/tickets/", BODY)
                with self.lock:
                    self.late.append(late)
                    if status == 201:
                        self.sent[json.loads(body)["id"]] = sent
                        self.answers.append(seconds)
                    else:
                        self.errors.append(status)
        finally:
            client.close()

    def run(self) -> float:
        start = time.perf_counter() + 0.5
        threads = [
            threading.Thread(target=self._client, args=(token, start)) for token in self.tokens
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start


def acknowledged_at(ticket_ids: list[int]) -> dict[int, datetime.datetime]:
    """When each ticket's acknowledgement was stored, waiting (bounded) for the last ones."""
    from django.db.models import Min

    from tickets.models import Message

    deadline = time.monotonic() + ACK_WAIT_SECONDS
    while True:
        stored = dict(
            Message.objects.filter(ticket_id__in=ticket_ids, kind=Message.Kind.SYSTEM)
            .values("ticket_id")
            .annotate(at=Min("created_at"))
            .values_list("ticket_id", "at")
        )
        if len(stored) == len(ticket_ids) or time.monotonic() > deadline:
            return stored
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_ack_latency", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument("--rate", type=float, default=20, help="tickets opened per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds at that rate")
    parser.add_argument("--clients", type=int, default=8, help="connections (requests in flight)")
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets seeded first")
    parser.add_argument("--warmup", type=float, default=3, help="seconds at the rate first")
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    bench.database_recreate()
    people = persons.people_create(customers=args.clients)
    seeded = seed.tickets_seed(args.tickets) if args.tickets else None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(AS_LIVE_SQL, {"now": timezone.now()})
    tokens = [person.token for person in people.customers]

    from django.db.models import F

    from sla.models import Clock
    from sla.policy import Metric

    print(report.report_header("SLA acknowledgement latency: API request to stored message"))
    print(
        f"setup:   {args.tickets} tickets seeded"
        + (f" in {seeded.seconds:.0f} s" if seeded else "")
        + f"; {args.rate:g} tickets/s for {args.duration:g} s over {args.clients} connections; "
        f"uvicorn x{bench.web_workers}, celery prefork x{bench.worker_concurrency}, beat"
    )
    with processes.Worker(bench), Beat(bench), processes.Server(bench) as server:
        Load(port=server.port, tokens=tokens, rate=args.rate, duration=args.warmup).run()
        load = Load(port=server.port, tokens=tokens, rate=args.rate, duration=args.duration)
        elapsed = load.run()
        stored = acknowledged_at(list(load.sent))
        machine_load = report.load_average()

    latencies = [stored[t].timestamp() - sent for t, sent in load.sent.items() if t in stored]
    late = Clock.objects.filter(
        ticket_id__in=list(load.sent),
        metric=Metric.ACKNOWLEDGEMENT,
        met_at__gt=F("started_at") + datetime.timedelta(seconds=5),
    ).count()
    answers = report.latency_summary(load.answers)
    print(
        f"sent {len(load.sent) + len(load.errors)} in {elapsed:.1f} s "
        f"({(len(load.sent) + len(load.errors)) / elapsed:.1f}/s), errors {len(load.errors)} "
        f"{sorted(set(load.errors))}; schedule late p99 "
        f"{report.percentile(load.late, 99) * 1000:.0f} ms, max {max(load.late) * 1000:.0f} ms"
    )
    print(
        f"API answer:        p50 {answers['p50_ms']:6.0f} ms, p99 {answers['p99_ms']:6.0f} ms, "
        f"max {answers['max_ms']:6.0f} ms"
    )
    print(
        f"acknowledgement:   p50 {report.percentile(latencies, 50) * 1000:6.0f} ms, "
        f"p99 {report.percentile(latencies, 99) * 1000:6.0f} ms, "
        f"max {max(latencies, default=float('nan')) * 1000:6.0f} ms "
        f"({len(stored)}/{len(load.sent)} acknowledged, {late} after 5 s); "
        f"load {machine_load}"
    )


if __name__ == "__main__":
    main()
