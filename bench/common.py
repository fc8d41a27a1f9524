"""What every benchmark needs: a fresh PostgreSQL database, seeded data, the real processes of
the Procfile (uvicorn, a Celery worker) and the arithmetic of the report.

A benchmark script goes like this:

    parser = argparse.ArgumentParser()
    common.add_arguments(parser)              # --name, --redis-db, --port, --web-workers
    args = parser.parse_args()
    bench = common.Bench.from_args(args)
    bench.setup()                             # environment + django.setup(), before any model
    bench.database_recreate()                 # DROP/CREATE hd_bench_<name>, migrate, teams
    people = common.people_create(customers=4)
    common.tickets_seed(10_000)               # SQL, about 5 s per 100k tickets
    with common.Worker(bench), common.Server(bench) as server:
        client = common.HttpClient(server.port, token=people.customers[0].token)
        status, body, seconds = client.request("GET", "/api/v1/tickets/")
    print(common.report_header(...))

Everything runs against `DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_bench_<name>` and
`REDIS_URL=redis://127.0.0.1:6379/<redis-db>`, with its own Celery queue and cache prefix, so a
benchmark never touches a developer's or a test run's data. The database is dropped and
created again by each run: do not point `--name` at anything you want to keep.
"""

import argparse
import dataclasses
import datetime
import http.client
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15


# --- Environment ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: where it runs, and how many web processes."""
    parser.add_argument(
        "--name",
        default=os.environ.get("BENCH_NAME", "bench"),
        help="suffix of the database hd_bench_<name>, the queue and the temp directory",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=int(os.environ.get("BENCH_REDIS_DB", "15")),
        help="Redis database number on 127.0.0.1:6379",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port of the bench web server (default: a free one)"
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="uvicorn processes (WEB_CONCURRENCY, 2 in the Procfile)",
    )
    parser.add_argument(
        "--pg-options",
        default="",
        help='PostgreSQL session settings for every process, e.g. "-c jit=off" '
        "(passed in DATABASE_URL as ?options=, as a deployment would)",
    )
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=2,
        help="Celery prefork processes (WORKER_CONCURRENCY, 2 in the Procfile)",
    )


def free_port() -> int:
    """A port nobody listens on now: benches of several people run side by side."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class Bench:
    name: str
    redis_db: int
    port: int = 0
    web_workers: int = 2
    worker_concurrency: int = 2
    pg_options: str = ""

    def __post_init__(self):
        if not self.port:
            object.__setattr__(self, "port", free_port())

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Bench":
        return cls(
            name=args.name,
            redis_db=args.redis_db,
            port=args.port,
            web_workers=args.web_workers,
            worker_concurrency=args.worker_concurrency,
            pg_options=args.pg_options,
        )

    @property
    def database(self) -> str:
        return f"hd_bench_{self.name}"

    @property
    def var_dir(self) -> Path:
        return Path(f"/tmp/hd-bench-{self.name}")  # noqa: S108 (scratch space of a local run)

    def environ(self) -> dict[str, str]:
        """The environment of the bench process and of every process it starts."""
        return {
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.database}"
            + (
                f"?{urllib.parse.urlencode({'options': self.pg_options})}"
                if self.pg_options
                else ""
            ),
            "REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "HELPDESK_VAR_DIR": str(self.var_dir),
            "CELERY_QUEUE": f"helpdesk-bench-{self.name}",
            "CACHE_KEY_PREFIX": f"helpdesk-bench-{self.name}",
            "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "SITE_URL": f"http://127.0.0.1:{self.port}",
            # The per-customer limit (30/hour) guards the service, not a benchmark.
            "API_TICKET_CREATE_RATE": "100000000/hour",
            # Emails are written to the outbox and "sent" by the worker into nothing: the
            # bench measures the helpdesk, not an SMTP server.
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
            # The beat sweep is not running; nothing should wait for it.
            "PYTHONUNBUFFERED": "1",
        }

    def setup(self) -> None:
        """Point this process at the bench services and set Django up (before any model)."""
        os.environ.update(self.environ())
        self.var_dir.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(BASE_DIR))
        import django

        django.setup()

    def database_recreate(self) -> None:
        """A fresh database: drop, create, migrate, collect static files (the admin's manifest)
        and set up the support structure of the guide, as `make run` does."""
        import psycopg2
        from django.core.management import call_command
        from django.db import connections

        connections.close_all()
        admin = psycopg2.connect(PG_ADMIN_URL)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{self.database}"')
        admin.close()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("setup_support")
        queue_purge()


def queue_purge() -> None:
    """Forget the tasks waiting in the bench's queue (left by an earlier run, or enqueued by
    in-process calls that already did their work)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


# --- People -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Person:
    user: object
    token: str


@dataclasses.dataclass(frozen=True)
class People:
    customers: list[Person]
    agent: Person  # member of the first line (support) team
    manager: Person  # in the managers group, member of no team


def people_create(*, customers: int = 4) -> People:
    """API customers, a first-line agent and a manager, each with an API token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from escalation.models import Team, TeamMembership
    from escalation.routing import FIRST_LINE_TEAM
    from tickets.selectors import MANAGERS_GROUP
    from tickets.services import customer_upsert

    User = get_user_model()

    def with_token(user) -> Person:
        return Person(user=user, token=Token.objects.create(user=user).key)

    api_customers = [
        with_token(
            customer_upsert(username=f"api-customer-{n}", email=f"api-customer-{n}@example.com")
        )
        for n in range(1, customers + 1)
    ]
    agent = User.objects.create_user(
        username="bench-agent", email="bench-agent@example.com", is_staff=True
    )
    TeamMembership.objects.create(team=Team.objects.get(slug=FIRST_LINE_TEAM), user=agent)
    manager = User.objects.create_user(
        username="bench-manager", email="bench-manager@example.com", is_staff=True
    )
    manager.groups.add(Group.objects.get(name=MANAGERS_GROUP))
    return People(customers=api_customers, agent=with_token(agent), manager=with_token(manager))


def session_cookie(user) -> str:
    """A signed-in session for `user`, as the login form would leave it: `sessionid=...`."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


# --- Seeding ----------------------------------------------------------------------------------

SEED_SQL = """
CREATE TEMP TABLE staff_slots ON COMMIT DROP AS
SELECT team_id, user_id,
       row_number() OVER (PARTITION BY team_id ORDER BY user_id) - 1 AS slot,
       count(*) OVER (PARTITION BY team_id) AS slots
FROM escalation_teammembership;
CREATE INDEX ON staff_slots (team_id, slot);

CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT base.*,
       CASE WHEN i %% 5 < 3
            THEN (SELECT user_id FROM staff_slots ss
                  WHERE ss.team_id = base.team_id AND ss.slot = (i * 31) %% ss.slots) END
           AS assignee_id
FROM (
    SELECT i,
           %(now)s - (%(n)s - i) * %(step)s::interval AS opened,
           (i > %(n)s * (1 - %(active)s)) AS active,
           (%(customers)s::int[])[1 + ((i * 7919) %% cardinality(%(customers)s::int[]))::int]
               AS customer_id,
           (%(teams)s::bigint[])[1 + ((i * 104729) %% cardinality(%(teams)s::bigint[]))::int]
               AS team_id,
           (ARRAY['billing','access','orders','vps','dedicated','network','other'])[1 + i %% 7]
               AS category,
           (ARRAY['web','email','api','chat'])[1 + (i / 7) %% 4] AS channel
    FROM generate_series(1::bigint, %(n)s) AS i
) AS base;

INSERT INTO tickets_ticket (reference, subject, category, status, priority, channel,
    customer_id, team_id, assignee_id, data_center, estimate_seconds, created_at, updated_at,
    last_activity_at, resolved_at, closed_at)
SELECT 'HD-' || extract(year FROM opened)::int || '-' || lpad(i::text, 7, '0'),
       'Seeded request ' || i || ': ' || category || ' problem on server srv' || (i %% 997),
       category,
       CASE WHEN active
            THEN (ARRAY['new','open','open','waiting_on_customer','pending_approval'])[1 + i %% 5]
            WHEN i %% 4 = 0 THEN 'resolved' ELSE 'closed' END,
       (ARRAY['low','normal','normal','normal','high','urgent'])[1 + i %% 6],
       channel, customer_id, team_id, assignee_id, '', NULL,
       opened, opened + interval '1 hour', opened + interval '1 hour',
       CASE WHEN active THEN NULL ELSE opened + interval '2 hours' END,
       CASE WHEN NOT active AND i %% 4 <> 0 THEN opened + interval '2 days' END
FROM seed ORDER BY i;

CREATE TEMP TABLE seeded ON COMMIT DROP AS
SELECT t.id AS ticket_id, t.status, t.team_id, t.customer_id, t.assignee_id, t.channel,
       t.created_at AS opened, s.i
FROM tickets_ticket t JOIN seed s ON t.reference = 'HD-' || extract(year FROM s.opened)::int
                                                  || '-' || lpad(s.i::text, 7, '0');

INSERT INTO tickets_message (ticket_id, kind, channel, author_id, body, client_id,
    email_message_id, created_at)
SELECT ticket_id, 'customer', channel, customer_id,
       'Hello, since this morning the server does not answer on port 443. ' ||
       'I have rebooted it from the panel twice; the console shows the login prompt.',
       NULL, '', opened
FROM seeded
UNION ALL
SELECT ticket_id, 'system', channel, NULL,
       'We have received your request and a person of the support team will answer soon.',
       NULL, '', opened + interval '1 second'
FROM seeded
UNION ALL
SELECT ticket_id, 'agent', channel, assignee_id,
       'We have looked at the server: the firewall rule is fixed, please check again.',
       NULL, '', opened + interval '1 hour'
FROM seeded WHERE assignee_id IS NOT NULL AND status <> 'new';

INSERT INTO tickets_event (ticket_id, actor_id, action, before, after, at)
SELECT ticket_id, customer_id, 'opened', '{}'::jsonb,
       jsonb_build_object('status', 'new', 'channel', channel), opened
FROM seeded;

INSERT INTO tickets_assignment (ticket_id, agent_id, assigned_at)
SELECT ticket_id, assignee_id, opened + interval '10 minutes'
FROM seeded WHERE assignee_id IS NOT NULL;

INSERT INTO sla_clock (ticket_id, metric, team_id, business, target_seconds, started_at,
    due_at, met_at, breached_at, cancelled_at, paused_at, paused_seconds, remaining_seconds,
    warned_at)
SELECT s.ticket_id, m.metric, s.team_id, m.business, m.target, s.opened,
       s.opened + m.target * interval '1 second',
       CASE WHEN m.metric = 'acknowledgement' THEN s.opened + interval '1 second'
            WHEN s.status IN ('resolved', 'closed') THEN s.opened + interval '1 hour'
            WHEN m.metric = 'first_response' AND s.status <> 'new'
                THEN s.opened + interval '5 minutes' END,
       CASE WHEN s.status NOT IN ('resolved', 'closed') AND m.metric <> 'acknowledgement'
             AND s.opened + m.target * interval '1 second' < %(now)s
             AND NOT (m.metric = 'first_response' AND s.status <> 'new')
            THEN s.opened + m.target * interval '1 second' END,
       NULL,
       CASE WHEN s.status = 'waiting_on_customer' AND m.business THEN s.opened END,
       0,
       CASE WHEN s.status = 'waiting_on_customer' AND m.business THEN m.target END,
       NULL
FROM seeded s
CROSS JOIN (VALUES ('acknowledgement', false, 120), ('first_response', false, 600),
                   ('status_update', true, 14400), ('resolution', true, 259200))
    AS m(metric, business, target);

-- Ticket.next_due_at, as sla.services keeps it: the running, unpaused clock due first (only
-- open tickets have one), a lookup by the clocks' ticket index each.
UPDATE tickets_ticket t SET next_due_at = (
    SELECT min(c.due_at) FROM sla_clock c
    WHERE c.ticket_id = t.id
      AND c.met_at IS NULL AND c.cancelled_at IS NULL AND c.paused_at IS NULL)
WHERE t.status IN ('new', 'open', 'waiting_on_customer', 'pending_approval');

INSERT INTO tickets_referencecounter (year, last)
SELECT extract(year FROM opened)::int, max(i) FROM seeded GROUP BY 1
ON CONFLICT (year) DO UPDATE SET last = greatest(tickets_referencecounter.last, EXCLUDED.last);
"""

SEED_CUSTOMERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined)
SELECT '!', false, 'seed-customer-' || c, 'Customer', c::text,
       'seed-customer-' || c || '@example.com', false, true, %(now)s
FROM generate_series(1, %(count)s) AS c;

INSERT INTO tickets_customerprofile (user_id, language, timezone, company)
SELECT id, CASE WHEN id %% 3 = 0 THEN 'it' ELSE 'en' END, 'Europe/Rome', ''
FROM auth_user WHERE username LIKE 'seed-customer-%%';
"""


@dataclasses.dataclass(frozen=True)
class Seeded:
    tickets: int
    active: int
    customers: int
    seconds: float


def team_agents_seed(per_team: int) -> None:
    """`per_team` agents in every team (seed-agent-<team>-<n>), the assignees of the seed."""
    from django.contrib.auth import get_user_model

    from escalation.models import Team, TeamMembership

    User = get_user_model()
    for team in Team.objects.order_by("pk"):
        agents = User.objects.bulk_create(
            User(
                username=f"seed-agent-{team.slug}-{n}",
                email=f"seed-agent-{team.slug}-{n}@example.com",
                password="!",  # unusable: nobody signs in as a seeded agent
                is_staff=True,
            )
            for n in range(1, per_team + 1)
        )
        TeamMembership.objects.bulk_create(
            TeamMembership(team=team, user=agent) for agent in agents
        )


def tickets_seed(
    count: int,
    *,
    customers: int | None = None,
    agents_per_team: int = 4,
    active_share: float = 0.1,
    span_days: int = 365,
    now: datetime.datetime | None = None,
) -> Seeded:
    """`count` tickets opened over `span_days`, the newest `active_share` still open, each with
    its first message, the acknowledgement, an agent's reply when assigned, the "opened" event,
    the assignment and its four SLA clocks (met, running, paused or breached as their status
    says). Pure SQL, in one transaction: ~100k tickets (about 900k rows) in well under a minute.

    Tickets are spread over every team (so an agent sees only their team's), over
    `customers` seeded customers (default: one per 50 tickets); three in five are assigned to
    a member of their team (`agents_per_team` seeded agents, plus the members already there,
    such as the bench agent of `people_create`). Seeded clocks name no policy version.
    References continue the per-year counter, so tickets opened later through the API follow on.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from escalation.models import Team
    from escalation.routing import FIRST_LINE_TEAM

    User = get_user_model()
    now = now or timezone.now()
    customers = customers or max(1, count // 50)
    started = time.perf_counter()
    teams = list(Team.objects.order_by("pk").values_list("pk", "slug"))
    # Most requests stay with the first line; the other teams share the rest.
    first = [pk for pk, slug in teams if slug == FIRST_LINE_TEAM]
    team_weights = first * len(teams) + [pk for pk, slug in teams if slug != FIRST_LINE_TEAM]
    with transaction.atomic(), connection.cursor() as cursor:
        team_agents_seed(agents_per_team)
        cursor.execute(SEED_CUSTOMERS_SQL, {"now": now, "count": customers})
        customer_ids = list(
            User.objects.filter(username__startswith="seed-customer-").values_list("pk", flat=True)
        )
        cursor.execute(
            SEED_SQL,
            {
                "now": now,
                "n": count,
                "step": datetime.timedelta(days=span_days) / max(count, 1),
                "active": active_share,
                "customers": customer_ids,
                "teams": team_weights,
            },
        )
    # A long-lived table has been vacuumed: its visibility map lets counts read indexes only.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    from tickets.models import ACTIVE_STATUSES, Ticket

    return Seeded(
        tickets=count,
        active=Ticket.objects.filter(status__in=ACTIVE_STATUSES).count(),
        customers=len(customer_ids),
        seconds=time.perf_counter() - started,
    )


# --- Processes --------------------------------------------------------------------------------


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (Linux /proc), with what
    their reaped children used."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we read
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = text[text.rindex(")") + 2 :].split()
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
        ticks[child] = sum(int(value) for value in fields[11:15])
    tree, frontier = set(), {pid}
    while frontier:
        tree |= frontier
        frontier = {child for child, parent in parents.items() if parent in frontier} - tree
    return sum(ticks.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


class _Process:
    """A child process of the bench, its output in a log file under the bench's var dir,
    stopped (SIGTERM, then SIGKILL) when the `with` block ends."""

    name = "process"

    def __init__(self, bench: Bench):
        self.bench = bench
        self.log = bench.var_dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self):
        env = {**os.environ, **self.bench.environ()}
        env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command(), cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start; see {self.log}")
            time.sleep(0.1)
        return self

    def cpu_seconds(self) -> float:
        """CPU time (user + system) this process and its children have used so far: on a
        shared machine a steadier cost than wall time, which other people's load stretches."""
        return process_tree_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Server(_Process):
    """The `web` process of the Procfile: uvicorn serving helpdesk.asgi on 127.0.0.1."""

    name = "web"

    @property
    def port(self) -> int:
        return self.bench.port

    def command(self) -> list[str]:
        return [
            str(BIN_DIR / "uvicorn"),
            "helpdesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--workers",
            str(self.bench.web_workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    def start(self):
        # Otherwise another bench's server would answer the readiness probe, and the requests.
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is taken: choose another with --port")
        return super().start()

    def ready(self) -> bool:
        try:
            status, _body, _seconds = HttpClient(self.port).request("GET", "/healthz")
        except OSError:
            return False
        return status == 200


class Worker(_Process):
    """The `worker` process of the Procfile: Celery prefork on the bench's own queue."""

    name = "worker"

    def command(self) -> list[str]:
        return [
            str(BIN_DIR / "celery"),
            "-A",
            "helpdesk",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.bench.worker_concurrency),
            "--hostname",
            f"bench-{self.bench.name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]

    def ready(self) -> bool:
        return b" ready." in self.log.read_bytes()


# --- HTTP -------------------------------------------------------------------------------------


class HttpClient:
    """One keep-alive connection, as a browser or an API client holds one. Standard library
    only, so the client costs the shared CPUs as little as it can."""

    def __init__(self, port: int, *, token: str | None = None, cookie: str | None = None):
        self.port = port
        self.headers = {"Host": "127.0.0.1", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        if cookie:
            self.headers["Cookie"] = cookie
            self.headers["Accept"] = "text/html"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes, float]:
        """Status, body and seconds from sending the request to the last byte of the answer."""
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()  # the server closed a kept-alive connection: once more
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        return response.status, data, time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


def path_with(path: str, **params: str) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}" if params else path


# --- Figures ----------------------------------------------------------------------------------


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of unsorted samples."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": max(seconds) * 1000 if seconds else float("nan"),
    }


def queries_of(call) -> tuple[int, list[str]]:
    """SQL statements one call sends to the database (django's CaptureQueriesContext, which
    counts every execute of this process's connection, inside or outside the ORM)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        call()
    return len(context.captured_queries), [q["sql"] for q in context.captured_queries]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_notes() -> str:
    """CPU, memory, load and versions: what a reader needs to compare figures."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}){memory}; load average {load_average()}; "
        f"Python {platform.python_version()}, PostgreSQL {postgres}"
    )


def rerun_command(argv: Iterable[str] | None = None) -> str:
    """The command that runs this benchmark again with the same options."""
    argv = list(sys.argv if argv is None else argv)
    module = Path(argv[0]).with_suffix("").relative_to(BASE_DIR).as_posix().replace("/", ".")
    return shlex.join([".venv/bin/python", "-m", module, *argv[1:]])


def report_header(title: str) -> str:
    today = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return "\n".join(
        [
            f"== {title} ({today})",
            f"machine: {machine_notes()}",
            f"rerun:   {rerun_command()}",
        ]
    )
