"""`make run`: the whole helpdesk on one machine, in one terminal.

    python -m helpdesk.run                 prepare, then run every process of the Procfile
    python -m helpdesk.run web             run one process of the Procfile (a container does)
    python -m helpdesk.run --healthcheck   exit 0 when the local web process answers /healthz

The first form starts the embedded Redis when `REDIS_URL` is unset, migrates, collects the
static files, sets up the support structure, seeds the demo on an empty database, then starts
and supervises web, worker and beat with honcho. Ctrl-C or SIGTERM stops all it started.
"""

import argparse
import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = BASE_DIR / "Procfile"

# A local run serves plain HTTP on localhost: no redirect to HTTPS, no Secure-only cookies.
# DEBUG keeps its production default (off).
LOCAL_DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_COOKIES": "false",
    "HOST": "127.0.0.1",
    "PORT": "8000",
    # The mail receiver is for the local MTA only, whatever HOST serves web on.
    "MAIL_HOST": "127.0.0.1",
}
NAME = "run"
READY_DEADLINE_SECONDS = 120
REDIS_START_SECONDS = 10
REDIS_STOP_SECONDS = 10
WATCH_INTERVAL_SECONDS = 0.5


class RunError(Exception):
    """A reason not to start, said to the operator in one line."""


def procfile_processes() -> dict[str, str]:
    return dict(parse_procfile(PROCFILE.read_text()).processes)


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in {"1", "true", "yes", "on"}


def browser_host(host: str) -> str:
    """Where a browser (or a probe) on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in {"", "0.0.0.0", "::", "[::]"} else host  # noqa: S104


def probe_host_header() -> str:
    """A Host header that ALLOWED_HOSTS accepts, so a probe is never refused with a 400."""
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        entry = entry.strip().lstrip(".")
        if entry and entry != "*":
            return entry
    return "localhost"


def healthz_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    # The probe speaks for the TLS-terminating proxy (X-Forwarded-Proto, which settings trust),
    # so that SECURE_SSL_REDIRECT does not turn the answer into a redirect.
    request = urllib.request.Request(
        f"http://{browser_host(host)}:{port}/healthz",
        headers={"Host": probe_host_header(), "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http only)
            return response.status == 200
    except OSError:
        return False


def port_check(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option uvicorn sets: only a live listener makes the bind fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise RunError(
                f"cannot serve on {host}:{port}: {exc.strerror}. Another program (or another "
                "`make run`) is using that port: stop it, or choose another with PORT=8001."
            ) from exc


def redis_start(url: str, *, log: Path) -> subprocess.Popen:
    """The embedded Redis, in its own session: a Ctrl-C in the terminal reaches only this
    supervisor, which stops Redis after the processes that use it."""
    import redis

    from helpdesk import embedded

    if embedded.answers(url):
        pid = redis.Redis.from_url(url).info("server").get("process_id", "?")
        raise RunError(
            f"a Redis server (pid {pid}) already serves {url}: another `make run` uses this "
            "var/ directory. Stop it first, or set HELPDESK_VAR_DIR to another directory."
        )
    sock = Path(urlsplit(url).path)
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    # Its start-up notes (about saving to disk, which it never does here) would only alarm.
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            embedded.redis_command(sock), stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + REDIS_START_SECONDS
    while not embedded.answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            redis_stop(proc)
            raise RunError(f"the embedded Redis did not start on {sock}; see {log}")
        time.sleep(0.05)
    return proc


def redis_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=REDIS_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def prepare(*, seed: bool) -> tuple:
    """Migrate, collect static files, set up the support structure, seed the demo on an empty
    database; returns the demo logins that exist."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    from helpdesk.demo import demo_logins_present

    call_command("migrate", interactive=False, verbosity=1)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("setup_support")
    if seed:
        call_command("seed_demo")
    logins = demo_logins_present()
    # The supervised processes are forked from here: they must not share a connection.
    connections.close_all()
    return logins


def banner(host: str, port: int, *, logins) -> str:
    url = f"http://{browser_host(host)}:{port}/"
    lines = [
        f"The helpdesk is up at {url}",
        f"Agents' queues and configuration: {url}admin/",
    ]
    if logins:
        lines.append("Demo logins:")
        lines += [f"  {login.role:<9} {login.username} / {login.password}" for login in logins]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines) + "\n"


class Supervisor:
    """honcho's Manager over the Procfile, plus two watchers it does not have: one announces
    the URLs once web answers /healthz, one stops everything if the embedded Redis dies."""

    def __init__(
        self, *, host: str, port: int, logins, redis: subprocess.Popen | None, redis_log: Path
    ):
        self.host, self.port, self.logins = host, port, logins
        self.redis, self.redis_log = redis, redis_log
        self.manager = Manager()
        self.stopped = threading.Event()
        self.redis_died = False
        bin_dir = str(Path(sys.executable).parent)
        env = dict(os.environ)
        # `make run` calls .venv/bin/python without activating the venv: find uvicorn, celery.
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        # Children write to honcho's pipes: unbuffered, each line shows when it is written.
        env["PYTHONUNBUFFERED"] = "1"
        for name, command in procfile_processes().items():
            self.manager.add_process(name, command, env=env, cwd=str(BASE_DIR))

    def say(self, text: str) -> None:
        # Through honcho's own queue, so the main thread prints it between the processes' lines.
        self.manager.events.put(
            Message(type="line", data=text, time=datetime.datetime.now(), name=NAME, colour=None)
        )

    def _announce(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while not self.stopped.is_set():
            if healthz_ok(self.host, self.port):
                self.say(banner(self.host, self.port, logins=self.logins))
                return
            if time.monotonic() > deadline:
                self.say(f"web did not answer /healthz in {READY_DEADLINE_SECONDS} s; see above\n")
                return
            self.stopped.wait(WATCH_INTERVAL_SECONDS)

    def _watch_redis(self) -> None:
        while not self.stopped.wait(WATCH_INTERVAL_SECONDS):
            returncode = self.redis.poll()
            if returncode is not None:
                self.redis_died = True
                self.say(
                    f"the embedded Redis stopped (rc={returncode}; see {self.redis_log}): "
                    "stopping everything\n"
                )
                self.manager.terminate()
                return

    def run(self) -> int:
        watchers = [threading.Thread(target=self._announce, daemon=True)]
        if self.redis is not None:
            watchers.append(threading.Thread(target=self._watch_redis, daemon=True))
        for watcher in watchers:
            watcher.start()
        try:
            self.manager.loop()
        finally:
            self.stopped.set()
        if self.redis_died:
            return 1
        return self.manager.returncode or 0


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def run_all() -> int:
    for name, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(name, value)
    host, port = os.environ["HOST"], int(os.environ["PORT"])
    os.environ.setdefault("SITE_URL", f"http://{browser_host(host)}:{port}")
    seed = env_flag("SEED_DEMO", default=True)
    port_check(host, port)

    # Until honcho installs its handlers, SIGTERM unwinds like Ctrl-C, through the `finally`.
    signal.signal(signal.SIGTERM, _terminated)
    from django.conf import settings

    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    redis_log = Path(settings.VAR_DIR) / "redis.log"
    redis = redis_start(settings.REDIS_URL, log=redis_log) if settings.REDIS_IS_EMBEDDED else None
    try:
        logins = prepare(seed=seed)
        supervisor = Supervisor(
            host=host, port=port, logins=logins, redis=redis, redis_log=redis_log
        )
        return supervisor.run()
    except KeyboardInterrupt:
        return 130
    finally:
        if redis is not None:
            redis_stop(redis)


def run_one(name: str) -> None:
    """Become one process of the Procfile: signals reach it directly (a container's PID 1)."""
    processes = procfile_processes()
    if name not in processes:
        raise RunError(f"no process {name!r} in the Procfile; known: {', '.join(processes)}")
    os.chdir(BASE_DIR)
    os.execv("/bin/sh", ["/bin/sh", "-c", f"exec {processes[name]}"])  # noqa: S606


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpdesk.run", description=__doc__)
    parser.add_argument("process", nargs="?", help="run only this process of the Procfile")
    parser.add_argument(
        "--healthcheck", action="store_true", help="exit 0 when web answers /healthz"
    )
    args = parser.parse_args(argv)
    try:
        if args.healthcheck:
            host = os.environ.get("HOST", LOCAL_DEFAULTS["HOST"])
            port = int(os.environ.get("PORT", LOCAL_DEFAULTS["PORT"]))
            return 0 if healthz_ok(host, port) else 1
        if args.process:
            run_one(args.process)
        return run_all()
    except RunError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
