"""Where a benchmark runs: its options, its own PostgreSQL database and Redis database, a
free port."""

import argparse
import dataclasses
import os
import socket
import sys
import urllib.parse
from pathlib import Path

# The repository: the processes run from it, as the Procfile does.
BASE_DIR = Path(__file__).resolve().parent.parent.parent
BIN_DIR = Path(sys.executable).parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
# The doors (core.throttle, DOOR_LIMITS) a benchmark opens wide for its processes, through
# their RATE_<NAME> environment variables: a report says so.
DOORS_RAISED = (
    "TICKET_OPEN_IP",
    "TICKET_OPEN_ACCOUNT",
    "REPLY_IP",
    "REPLY_ACCOUNT",
    "CHAT_ACCOUNT",
    "LOGIN_IP",
    "LOGIN_ACCOUNT",
    "TOKEN_IP",
    "TOKEN_ACCOUNT",
    "ESCALATE_ACCOUNT",
    "CONSULT_ACCOUNT",
    "ESTIMATE_ACCOUNT",
    "APPROVAL_REQUEST_ACCOUNT",
    "APPROVAL_DECIDE_ACCOUNT",
    "APPROVAL_WITHDRAW_ACCOUNT",
)
DOOR_RAISED_TO = "100000000/h"


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
            # The doors' limits (DOOR_LIMITS) guard the service, not a benchmark whose every
            # client is one address and a handful of accounts.
            **{f"RATE_{door}": DOOR_RAISED_TO for door in DOORS_RAISED},
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
