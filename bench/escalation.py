"""Escalation through the API: estimate, consult, ask management for an approval, decide it and
escalate, against a real uvicorn with a real Celery worker sending the notices' emails, on
PostgreSQL; then the managers' approvals queue with 10,000 requests pending.

    .venv/bin/python -m bench.escalation --name escb --redis-db 13
    .venv/bin/python -m bench.escalation --clients 1 4 --calls 100 --threads 2 200

Tickets are opened by customers (`ticket_open`, in this process, an hour ago) and their threads
grown by SQL to `--threads` messages: the first, the acknowledgement, then customers' emails,
agents' replies and internal notes in turn. For each number of clients and each thread size,
each action is timed on its own over `--calls` tickets, every client holding one keep-alive
connection with a token: the first-line agent gives an estimate (`/estimate/`), consults the
system administrators (`/consult/`), asks management for a billing credit (`/approvals/`); a
manager approves it (`/api/v1/approvals/{id}/decide/`); the agent escalates the ticket to
billing (`/escalate/`). Printed per action: p50/p95/p99/max latency, errors, and the CPU the web
processes spent per call (steadier than wall time on a machine others load).

SQL per call is counted in this process with CaptureQueriesContext around one request through
django.test.Client (middleware, DRF view, use case, rendering; BEGIN and COMMIT count), the same
five actions on a ticket of each thread size: the counts must be equal, a call doing the same
work however long the conversation.

The queue: `--approvals` tickets seeded by SQL (bench.harness.seed, all open), each waiting for
a pending approval asked by the agent; the API's queue and the desk's management queue are
fetched `--requests` times each over one keep-alive connection, as a manager.

The per-account doors of escalation (RATE_ESCALATE_ACCOUNT, RATE_CONSULT_ACCOUNT, ...) would
refuse a bench's hundreds of calls an hour by one agent: they are raised for the bench's
processes (environment.DOORS_RAISED), and the report says so.
"""

import argparse
import dataclasses
import difflib
import re
import threading
import time

from bench.harness import environment, httpclient, persons, processes, report, seed
from bench.lists import Page, queries_of_page, time_page

OPENED_HOURS_AGO = 1
WARMUP_TICKETS_PER_CLIENT = 2


@dataclasses.dataclass(frozen=True)
class Action:
    name: str
    who: str  # "agent" or "manager"
    path: str  # "{ticket}" or "{approval}" in it
    body: dict
    status: int


ACTIONS = (
    Action(
        "estimate",
        "agent",
        "/api/v1/tickets/{ticket}/estimate/",
        {"seconds": 2 * 86400, "note": "Moving the mailboxes takes two working days."},
        200,
    ),
    Action(
        "consult",
        "agent",
        "/api/v1/tickets/{ticket}/consult/",
        {"team": "sysadmin", "note": "Is the firewall of this host managed by you?"},
        201,
    ),
    Action(
        "approval request",
        "agent",
        "/api/v1/tickets/{ticket}/approvals/",
        {
            "kind": "billing_credit",
            "reason": "Four hours of downtime on our side: a month's fee back.",
            "amount": "25.00",
        },
        201,
    ),
    Action(
        "decide",
        "manager",
        "/api/v1/approvals/{approval}/decide/",
        {"decision": "approve", "note": "Granted: the outage was ours."},
        200,
    ),
    Action(
        "escalate",
        "agent",
        "/api/v1/tickets/{ticket}/escalate/",
        {"team": "billing", "reason": "The double charge needs the billing team."},
        200,
    ),
)

API_PAGE_SIZE = 25  # REST_FRAMEWORK's PAGE_SIZE


def queue_pages(pending: int) -> list[Page]:
    """The managers' queue: the API's first page and one halfway down (the same queries), every
    state, and the desk's management queue (pending first)."""
    middle = max(1, -(-pending // API_PAGE_SIZE) // 2)
    return [
        Page("API queue, pending, page 1", "/api/v1/approvals/?state=pending", "manager"),
        Page(
            f"API queue, pending, page {middle}",
            f"/api/v1/approvals/?state=pending&page={middle}",
            "manager",
        ),
        Page("API approvals, every state", "/api/v1/approvals/", "manager"),
        Page(
            "desk management queue", "/admin/escalation/approvalrequest/", "manager", session=True
        ),
        Page(
            "desk management queue, pending",
            "/admin/escalation/approvalrequest/?state__exact=pending",
            "manager",
            session=True,
        ),
    ]


# The rest of a thread after its first message: the acknowledgement, then customers' emails,
# agents' replies and internal notes in turn, ten seconds apart.
THREAD_SQL = """
INSERT INTO tickets_message (ticket_id, kind, channel, author_id, body, client_id,
    email_message_id, created_at)
SELECT t.id, m.kind,
       CASE WHEN m.kind = 'customer' THEN 'email' ELSE t.channel END,
       CASE m.kind WHEN 'customer' THEN t.customer_id WHEN 'system' THEN NULL
                   ELSE %(agent)s END,
       CASE m.kind
           WHEN 'system' THEN 'We have received your request and will answer soon.'
           WHEN 'customer' THEN 'It happened again this morning at ' || m.n || ' past nine.'
           WHEN 'agent' THEN 'Thank you: we are looking at the logs of that hour.'
           ELSE 'Same pattern as the last time; the card was charged twice.' END,
       NULL,
       CASE WHEN m.kind = 'customer' THEN '<' || t.id || '.' || m.n || '@mail.example.com>'
            ELSE '' END,
       t.created_at + m.n * interval '10 seconds'
FROM tickets_ticket t
CROSS JOIN LATERAL (
    SELECT n, CASE WHEN n = 2 THEN 'system'
                   ELSE (ARRAY['customer', 'agent', 'internal'])[1 + n %% 3] END AS kind
    FROM generate_series(2, %(size)s) AS n
) AS m
WHERE t.id = ANY(%(tickets)s)
ORDER BY t.id, m.n
"""

# Pending approvals on the seeded tickets, asked by the agent, a third of them credits.
APPROVALS_SQL = """
INSERT INTO escalation_approvalrequest (ticket_id, kind, amount, currency, reason, state,
    requested_by_id, requested_at, decided_by_id, decided_at, note)
SELECT id, (ARRAY['billing_credit', 'account_exception', 'special'])[1 + id %% 3],
       CASE WHEN id %% 3 = 0 THEN 25.00 END,
       CASE WHEN id %% 3 = 0 THEN 'EUR' ELSE '' END,
       'The customer asks for an exception to the terms of their plan.',
       'pending', %(agent)s, created_at + interval '30 minutes', NULL, NULL, ''
FROM tickets_ticket WHERE subject LIKE 'Seeded request %%'
ORDER BY id LIMIT %(count)s;

UPDATE tickets_ticket SET status = 'pending_approval'
WHERE id IN (SELECT ticket_id FROM escalation_approvalrequest WHERE state = 'pending');
"""


def threads_open(people: persons.People, count: int, size: int) -> list[int]:
    """`count` tickets opened by the customers an hour ago, each with a thread of `size`
    messages."""
    import datetime

    from django.db import connection
    from django.utils import timezone

    from usecases.tickets import ticket_open

    opened_at = timezone.now() - datetime.timedelta(hours=OPENED_HOURS_AGO)
    ids = [
        ticket_open(
            customer=people.customers[n % len(people.customers)].user,
            subject="Charged twice for the same invoice",
            body="My card was charged twice this month for invoice 2026-114. Please check.",
            category="other",
            channel="api",
            now=opened_at,
        ).pk
        for n in range(count)
    ]
    if size > 1:
        with connection.cursor() as cursor:
            cursor.execute(
                THREAD_SQL, {"tickets": ids, "size": size, "agent": people.agent.user.pk}
            )
    return ids


def approvals_seed(count: int, people: persons.People) -> int:
    """`count` pending approvals on seeded tickets; how many are pending in all."""
    from django.db import connection

    from escalation.models import ApprovalRequest

    with connection.cursor() as cursor:
        cursor.execute(APPROVALS_SQL, {"count": count, "agent": people.agent.user.pk})
        cursor.execute("VACUUM ANALYZE escalation_approvalrequest")
    return ApprovalRequest.objects.filter(state=ApprovalRequest.State.PENDING).count()


def paths_of(action: Action, tickets: list[int]) -> list[str]:
    """The action's path for each ticket; for a decision, the ticket's pending approval."""
    if "{approval}" not in action.path:
        return [action.path.format(ticket=ticket) for ticket in tickets]
    from escalation.models import ApprovalRequest

    pending = dict(
        ApprovalRequest.objects.filter(
            ticket_id__in=tickets, state=ApprovalRequest.State.PENDING
        ).values_list("ticket_id", "pk")
    )
    return [action.path.format(approval=pending[ticket]) for ticket in tickets]


def people_told() -> str:
    """Who the actions email besides the customer: the members of the teams escalated to and
    consulted, the managers asked."""
    from django.contrib.auth import get_user_model

    from accounts.roles import MANAGERS_GROUP
    from teams.models import Team

    teams = sorted({action.body["team"] for action in ACTIONS if "team" in action.body})
    members = [
        f"{slug} {Team.objects.get(slug=slug).members.filter(is_active=True).count()} members"
        for slug in teams
    ]
    managers = get_user_model().objects.filter(is_active=True, groups__name=MANAGERS_GROUP).count()
    return ", ".join([*members, f"{managers} managers"])


def token_of(action: Action, people: persons.People) -> str:
    return getattr(people, action.who).token


def queries_per_call(people: persons.People, sizes: list[int]) -> dict[str, dict[int, list]]:
    """SQL statements of each action on a ticket of each thread size, in process, after the
    same actions on a ticket that warms the caches (content types, routing, permissions)."""
    from django.test import Client

    clients = {
        who: Client(HTTP_AUTHORIZATION=f"Token {getattr(people, who).token}")
        for who in ("agent", "manager")
    }

    def post(action: Action, path: str):
        answer = clients[action.who].post(path, action.body, content_type="application/json")
        if answer.status_code != action.status:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.content!r}")

    [warm] = threads_open(people, 1, sizes[0])
    for action in ACTIONS:
        post(action, *paths_of(action, [warm]))
    statements: dict[str, dict[int, list]] = {action.name: {} for action in ACTIONS}
    for size in sizes:
        [ticket] = threads_open(people, 1, size)
        for action in ACTIONS:
            [path] = paths_of(action, [ticket])  # the approval's id: not the call's query
            _count, sql = report.queries_of(lambda action=action, path=path: post(action, path))
            statements[action.name][size] = sql
    # The emails these calls enqueued are not the worker's business.
    environment.queue_purge()
    return statements


def statements_diff(first: list[str], second: list[str]) -> list[str]:
    """The statements that differ between two calls, their values left out (strings, numbers,
    the savepoints' names)."""

    def shape(sql: str) -> str:
        return re.sub(r"\d+", "N", re.sub(r"'(?:[^']|'')*'", "?", sql))

    return [
        line[:200]
        for line in difflib.unified_diff(
            [shape(s) for s in first], [shape(s) for s in second], lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def phase(
    server: processes.Server, token: str, paths: list[str], action: Action, clients: int
) -> dict:
    """`clients` keep-alive connections sharing `paths`, one call after the other each."""
    shares = [paths[n::clients] for n in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[tuple[int, bytes]] = []

    def calls(n: int) -> None:
        client = httpclient.HttpClient(server.port, token=token)
        try:
            for path in shares[n]:
                status, body, seconds = client.request("POST", path, action.body)
                if status == action.status:
                    latencies[n].append(seconds)
                else:
                    errors.append((status, body[:300]))
        finally:
            client.close()

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=calls, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [s for share in latencies for s in share]
    return {
        "calls": len(samples),
        "errors": errors,
        "per_second": len(samples) / elapsed,
        "web_cpu_ms": (server.cpu_seconds() - cpu_before) * 1000 / max(len(paths), 1),
        **report.latency_summary(samples),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 4], help="concurrent clients, one run each"
    )
    parser.add_argument(
        "--calls", type=int, default=100, help="timed calls per action, clients and thread size"
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[2, 200], help="messages in each thread"
    )
    parser.add_argument(
        "--approvals",
        type=int,
        default=10_000,
        help="seeded tickets, each with a pending approval (the managers' queue)",
    )
    parser.add_argument("--requests", type=int, default=50, help="timed fetches per queue page")
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    bench.database_recreate()
    people = persons.people_create(customers=4)
    seeded = seed.tickets_seed(args.approvals, active_share=1.0)
    pending = approvals_seed(args.approvals, people)
    statements = queries_per_call(people, args.threads)
    warm_tickets = threads_open(
        people, WARMUP_TICKETS_PER_CLIENT * max(args.clients), args.threads[0]
    )
    pools = {
        (clients, size): threads_open(people, args.calls, size)
        for clients in args.clients
        for size in args.threads
    }
    environment.queue_purge()  # the acknowledgements of tickets opened an hour ago

    print(report.report_header("Escalation over the API, and the managers' approvals queue"))
    print(
        f"setup:   {seeded.tickets} open tickets seeded in {seeded.seconds:.1f} s, "
        f"{pending} approvals pending; threads of {' and '.join(map(str, args.threads))} "
        f"messages; uvicorn x{bench.web_workers}, celery prefork x{bench.worker_concurrency}"
    )
    print(
        f"doors:   raised to {environment.DOOR_RAISED_TO} for the bench's processes: "
        + ", ".join(f"RATE_{door}" for door in environment.DOORS_RAISED)
    )
    print(f"told:    {people_told()} (one email each: a statement per person)")
    print("queries per call (CaptureQueriesContext in process, BEGIN and COMMIT count):")
    print(f"  {'action':<18} " + " ".join(f"{f'thread {size}':>11}" for size in args.threads))
    for name, by_size in statements.items():
        counts = [len(by_size[size]) for size in args.threads]
        # The same statements, not only as many, ids aside.
        differences = statements_diff(by_size[args.threads[0]], by_size[args.threads[-1]])
        verdict = "DIFFERENT" if differences else "the same statements"
        print(f"  {name:<18} " + " ".join(f"{count:>11}" for count in counts) + f"  {verdict}")
        for line in differences:
            print(f"      {line}")

    with processes.Worker(bench), processes.Server(bench) as server:
        for action in ACTIONS:
            phase(
                server,
                token_of(action, people),
                paths_of(action, warm_tickets),
                action,
                max(args.clients),
            )
        print(
            f"{'action':<18} {'clients':>7} {'thread':>6} {'calls/s':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} {'web CPU ms':>10} "
            f"{'load':>14}"
        )
        for clients in args.clients:
            for size in args.threads:
                tickets = pools[clients, size]
                for action in ACTIONS:
                    figures = phase(
                        server,
                        token_of(action, people),
                        paths_of(action, tickets),
                        action,
                        clients,
                    )
                    print(
                        f"{action.name:<18} {clients:>7} {size:>6} {figures['per_second']:>7.1f} "
                        f"{figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f} "
                        f"{figures['p99_ms']:>7.1f} {figures['max_ms']:>7.1f} "
                        f"{len(figures['errors']):>6} {figures['web_cpu_ms']:>10.1f} "
                        f"{report.load_average():>14}"
                    )
                    for status, body in figures["errors"][:3]:
                        print(f"      {status}: {body!r}")

        print(
            f"-- the queue: {pending} approvals pending, {args.requests} fetches a page "
            f"after a few warm-ups, one connection"
        )
        print(
            f"{'page':<36} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'queries':>7} {'bytes':>7} {'load':>14}"
        )
        for page in queue_pages(pending):
            queries, size_bytes = queries_of_page(page, people.manager)
            figures = time_page(server, page, people.manager, args.requests)
            print(
                f"{page.label:<36} {figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f} "
                f"{figures['p99_ms']:>7.1f} {figures['max_ms']:>7.1f} {queries:>7} "
                f"{size_bytes:>7} {report.load_average():>14}"
            )


if __name__ == "__main__":
    main()
