"""The SLA sweep's cost with the same number of due clocks among more and more tickets.

    .venv/bin/python -m bench.sla_sweep --name proof --redis-db 6
    .venv/bin/python -m bench.sla_sweep --tickets 10000 100000 1000000 --due 1000 --rounds 2

For each `--tickets` the database is made again and seeded in SQL (bench.harness.seed: a year of
tickets, four clocks each, the overdue ones breached), then brought to the state the live
sweep leaves behind: a Breach for every breached clock with its managers told, every overdue
status update reminded, an acknowledgement email sent for every ticket. Each round then makes
`--due` running clocks of open tickets due in the last minute (resolutions and status updates,
so the sweep posts delay notices, alerts managers and reminds owners, as it would) and runs the
sweep task function (`jobs.tasks.sweep`, in this process, no worker) until nothing is left.

Printed per size and round: the time to sweep the due clocks (every call until none is left),
each step's share, the SQL statements, the plan of the due-clock read (EXPLAIN ANALYZE: the
partial index `clock_sweep_idx`, and the rows it reads) and an idle sweep (nothing due), the
one the beat runs every 10 s. The figures must not grow with the number of tickets.
"""

import argparse
import datetime
import json
import statistics
import time
from contextlib import contextmanager

from bench.harness import environment, persons, report, seed

# Left behind by a live system, which the bench seed does not write.
AS_LIVE_SQL = """
INSERT INTO sla_breach (clock_id, ticket_id, team_id, metric, due_at, detected_at,
    managers_notified_at)
SELECT id, ticket_id, team_id, metric, due_at, breached_at, breached_at + interval '10 seconds'
FROM sla_clock WHERE breached_at IS NOT NULL;

UPDATE sla_clock SET reminded_at = due_at
WHERE metric = 'status_update' AND reminded_at IS NULL AND due_at <= %(now)s;

INSERT INTO tickets_outboundemail (ticket_id, message_id, purpose, "to", subject, body_text,
    body_html, rfc_message_id, in_reply_to, "references", state, attempts, created_at,
    claimed_at, next_attempt_at, sent_at, last_error)
SELECT t.id, NULL, 'acknowledgement', 'seed-customer@example.com',
       '[' || t.reference || '] ' || t.subject, 'We have received your request.', '',
       '<' || t.reference || '.ack@bench.invalid>', '', '', 'sent', 1, t.created_at,
       t.created_at, t.created_at, t.created_at + interval '2 seconds', ''
FROM tickets_ticket t;
"""

# Running, unpaused clocks of open tickets (breached in the seed or not): the ones a round
# makes due again, newest first.
DUE_CANDIDATES_SQL = """
SELECT id FROM sla_clock
WHERE metric IN ('status_update', 'resolution') AND met_at IS NULL AND cancelled_at IS NULL
  AND paused_at IS NULL
ORDER BY id DESC LIMIT %(due)s
"""

# Due in the last minute, never warned, reminded or breached; their old Breach rows go.
MAKE_DUE_SQL = """
DELETE FROM sla_breach WHERE clock_id = ANY(%(ids)s);
UPDATE sla_clock
SET due_at = %(now)s - (id %% 60) * interval '1 second', breached_at = NULL, warned_at = NULL,
    reminded_at = NULL
WHERE id = ANY(%(ids)s);
ANALYZE sla_clock;
ANALYZE sla_breach;
"""

EMAILS_SENT_SQL = """
UPDATE tickets_outboundemail SET state = 'sent', sent_at = %(now)s
WHERE state IN ('pending', 'sending');
"""

# The steps of `jobs.tasks.sweep`, timed by wrapping the module attributes it calls.
STEPS = [
    ("sla.services.acknowledgement", "acknowledgements_missing"),
    ("sla.services.acknowledgement", "acknowledgement_send"),
    ("sla.services.sweep", "breaches_record"),
    ("sla.services.sweep", "managers_notify"),
    ("sla.services.sweep", "clocks_at_risk_warn"),
    ("sla.services.sweep", "status_updates_remind"),
    ("tickets.notifications", "outbox_due"),
]


class StepTimer:
    """Milliseconds spent in each step of the sweep, summed until `reset`."""

    def __init__(self):
        import importlib

        self.spent: dict[str, float] = {}
        for module_name, name in STEPS:
            module = importlib.import_module(module_name)
            setattr(module, name, self._wrap(name, getattr(module, name)))

    def _wrap(self, name, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                if name == "acknowledgements_missing":
                    result = list(result)  # evaluate the lazy queryset inside the timing
                return result
            finally:
                spent = (time.perf_counter() - started) * 1000
                self.spent[name] = self.spent.get(name, 0.0) + spent

        return timed

    def reset(self) -> dict[str, float]:
        spent, self.spent = self.spent, {}
        return spent


@contextmanager
def captured():
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()  # the log keeps 9000 statements; a count across its limit would be wrong
    with CaptureQueriesContext(connection) as context:
        yield context


def plans_of(statements: list[str]) -> list[tuple[float, str, str]]:
    """EXPLAIN ANALYZE of each statement, in a transaction rolled back (an UPDATE in the list
    runs but changes nothing): execution ms, the statement's start, the indexes it read."""
    import re

    from django.db import connection, transaction

    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            if not sql.lstrip().startswith(("SELECT", "UPDATE", "WITH")):
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0][0]
            text = json.dumps(plan["Plan"])
            indexes = sorted(set(re.findall(r'"Index Name": "([^"]+)"', text)))
            scans = sorted(set(re.findall(r'"Node Type": "(Seq Scan)"', text)))
            plans.append(
                (plan["Execution Time"], " ".join(sql.split())[:70], ", ".join(indexes + scans))
            )
        transaction.set_rollback(True)
    return plans


def due_read_plan(now: datetime.datetime) -> tuple[str, float, bool]:
    """EXPLAIN ANALYZE of the sweep's read of due clocks, as breaches_record builds it."""
    from django.db import connection, transaction

    from sla.services import sweep as sla_sweep

    query = (
        sla_sweep.clocks_open_due(now=now)
        .select_for_update(skip_locked=True)
        .order_by("due_at")
        .only("id", "ticket_id", "team_id", "metric", "due_at")[: sla_sweep.SWEEP_BATCH]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    execution_ms = float(plan.rsplit("Execution Time:", 1)[1].split()[0])
    return plan, execution_ms, "clock_sweep_idx" in plan


def make_due(ids: list[int]) -> datetime.datetime:
    from django.db import connection, transaction
    from django.utils import timezone

    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(EMAILS_SENT_SQL, {"now": now})
        cursor.execute(MAKE_DUE_SQL, {"ids": ids, "now": now})
    environment.queue_purge()
    return now


def sweep_round(ids: list[int], timer: StepTimer) -> dict:
    """Make the clocks due, sweep until none is left, then sweep idle a few times."""
    from django.db import connection
    from django.utils import timezone

    from jobs import tasks
    from sla.models import Breach, Clock

    now = make_due(ids)
    plan, read_ms, indexed = due_read_plan(now)
    calls, statements = [], 0
    timer.reset()
    started = time.perf_counter()
    while True:
        call_started = time.perf_counter()
        with captured() as queries:
            result = tasks.sweep()
        calls.append((time.perf_counter() - call_started) * 1000)
        statements += len(queries)
        if not result["breached"] and not result["status_updates_reminded"]:
            break
    total_ms = (time.perf_counter() - started) * 1000
    steps = timer.reset()
    # The rest of the calls: email_deliver.delay for each email in the outbox.
    steps["enqueue emails"] = sum(calls) - sum(steps.values())
    breached = Breach.objects.filter(clock_id__in=ids).count()
    left = Clock.objects.filter(pk__in=ids, breached_at__isnull=True).count()
    # What the worker would have done meanwhile: every email of the round is out.
    with connection.cursor() as cursor:
        cursor.execute(EMAILS_SENT_SQL, {"now": timezone.now()})
    idle = []
    with captured() as queries:
        tasks.sweep()
    idle_statements = len(queries)
    idle_plans = plans_of([q["sql"] for q in queries.captured_queries])
    for _ in range(5):
        call_started = time.perf_counter()
        tasks.sweep()
        idle.append((time.perf_counter() - call_started) * 1000)
    idle_steps = {name: ms / 5 for name, ms in timer.reset().items()}
    environment.queue_purge()
    return {
        "plan": plan,
        "read_ms": read_ms,
        "indexed": indexed,
        "calls": calls,
        "statements": statements,
        "total_ms": total_ms,
        "steps": steps,
        "breached": breached,
        "left": left,
        "idle_ms": statistics.median(idle),
        "idle_statements": idle_statements,
        "idle_steps": idle_steps,
        "idle_plans": idle_plans,
    }


def size_run(tickets: int, args, timer: StepTimer) -> list[dict]:
    from django.db import connection, transaction
    from django.utils import timezone

    from sla.models import Breach, Clock

    persons.people_create(customers=1)  # the manager told of breaches, a first-line agent
    seeded = seed.tickets_seed(tickets)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(AS_LIVE_SQL, {"now": timezone.now()})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute(DUE_CANDIDATES_SQL, {"due": args.due})
        ids = [row[0] for row in cursor.fetchall()]
    seed_seconds = seeded.seconds + time.perf_counter() - started
    if len(ids) < args.due:
        raise SystemExit(f"only {len(ids)} open clocks to make due among {tickets} tickets")
    print(
        f"\n-- {tickets} tickets ({seeded.active} open): {Clock.objects.count()} clocks, "
        f"{Breach.objects.count()} breaches; seeded in {seed_seconds:.0f} s"
    )
    rounds = []
    for number in range(1, args.rounds + 1):
        result = sweep_round(ids, timer)
        result.update(tickets=tickets, round=number, load=report.load_average())
        rounds.append(result)
        print(
            f"round {number}: {len(result['calls'])} sweeps, {result['total_ms']:.0f} ms for "
            f"{result['breached']} due clocks ({result['left']} left), "
            f"{result['statements']} SQL; calls ms "
            + ", ".join(f"{ms:.0f}" for ms in result["calls"])
            + f"; idle sweep {result['idle_ms']:.1f} ms, {result['idle_statements']} SQL; "
            f"load {result['load']}"
        )
        print(
            "  steps ms (due): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in result["steps"].items())
        )
        print(
            "  steps ms (idle): "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in result["idle_steps"].items())
        )
        if number == 1 or args.plans:
            print("  due-clock read, EXPLAIN (ANALYZE, BUFFERS):")
            print("\n".join("    " + line for line in result["plan"].splitlines()))
            print("  idle sweep, each statement (EXPLAIN ANALYZE ms, indexes read):")
            for ms, sql, indexes in result["idle_plans"]:
                print(f"    {ms:8.2f}  {sql:70}  {indexes}")
    return rounds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_sweep", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument(
        "--tickets",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="tickets in the database, one fresh database per value",
    )
    parser.add_argument("--due", type=int, default=1000, help="clocks made due each round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per size")
    parser.add_argument("--plans", action="store_true", help="print every round's plan")
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    timer = StepTimer()
    results = []
    for number, tickets in enumerate(args.tickets):
        bench.database_recreate()
        if number == 0:
            print(report.report_header("SLA sweep: due clocks among 10k-1M tickets"))
        results += size_run(tickets, args, timer)

    print(
        f"\n{'tickets':>9} {'round':>5} {'due':>5} {'sweeps':>6} {'total ms':>9} "
        f"{'ms/clock':>8} {'SQL':>5} {'read ms':>8} {'index':>5} {'idle ms':>8} "
        f"{'idle SQL':>8} {'load':>15}"
    )
    for r in results:
        print(
            f"{r['tickets']:>9} {r['round']:>5} {r['breached']:>5} {len(r['calls']):>6} "
            f"{r['total_ms']:>9.0f} {r['total_ms'] / max(r['breached'], 1):>8.2f} "
            f"{r['statements']:>5} {r['read_ms']:>8.2f} {'yes' if r['indexed'] else 'NO':>5} "
            f"{r['idle_ms']:>8.1f} {r['idle_statements']:>8} {r['load']:>15}"
        )


if __name__ == "__main__":
    main()
