"""What storing one live-chat line costs: `ticket_reply` as the chat socket calls it, for an
agent's public reply and for a customer's message, in one conversation started by `chat_start`
(real PostgreSQL, the Redis broker and channel layer of the settings).

    .venv/bin/python -m bench.chat_reply_cost --name crc --redis-db 14
    .venv/bin/python -m bench.chat_reply_cost --messages 500 --sql

SQL per line is counted with django's CaptureQueriesContext around one call; time is the wall
clock of `--messages` calls of each kind, alternating, as in a conversation (median, p95), and
the CPU time of this process per line (the Python side: less sensitive than the wall clock to
a machine shared with other work). The emails the lines cause are counted in the outbox.
"""

import argparse
import time
import uuid

from bench.harness import environment, persons, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    environment.add_arguments(parser)
    parser.add_argument("--messages", type=int, default=300, help="lines of each kind")
    parser.add_argument("--sql", action="store_true", help="print the statements of one line")
    args = parser.parse_args()
    bench = environment.Bench.from_args(args)
    bench.setup()
    bench.database_recreate()

    from django.utils import timezone

    from tickets.models import Channel, OutboundEmail
    from usecases.chat import chat_start
    from usecases.tickets import ticket_assign, ticket_reply

    people = persons.people_create(customers=1)
    customer, agent = people.customers[0].user, people.agent.user
    ticket = chat_start(customer=customer, body="Hello, my VPS is down.", now=timezone.now())
    ticket_assign(ticket_id=ticket.pk, actor=agent, assignee_id=None, now=timezone.now())
    environment.queue_purge()

    def line(author) -> None:
        ticket_reply(
            ticket_id=ticket.pk,
            author=author,
            body=f"line {uuid.uuid4().hex}",
            channel=Channel.CHAT,
            now=timezone.now(),
            client_id=str(uuid.uuid4()),
        )

    for author in (agent, customer):  # warm caches (translations, templates, policy)
        line(author)
    emails_before = OutboundEmail.objects.filter(ticket=ticket).count()
    seconds = {"agent": [], "customer": []}
    cpu = {"agent": [], "customer": []}
    for _ in range(args.messages):
        for name, author in (("agent", agent), ("customer", customer)):
            started, cpu_started = time.perf_counter(), time.process_time()
            line(author)
            seconds[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    emails = OutboundEmail.objects.filter(ticket=ticket).count() - emails_before
    queries = {
        name: report.queries_of(lambda author=author: line(author))
        for name, author in (("agent", agent), ("customer", customer))
    }
    environment.queue_purge()

    print(report.report_header("chat line cost: ticket_reply over the chat channel"))
    for name in ("agent", "customer"):
        summary = report.latency_summary(seconds[name])
        print(
            f"{name:>8} line: {queries[name][0]:>2} queries, "
            f"p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms, "
            f"CPU {sum(cpu[name]) / len(cpu[name]) * 1000:.1f} ms/line ({args.messages} lines)"
        )
    print(f"emails queued for {args.messages} agent lines: {emails}")
    if args.sql:
        for name in ("agent", "customer"):
            print(f"-- {name} line")
            for sql in queries[name][1]:
                print(f"   {sql[:160]}")


if __name__ == "__main__":
    main()
