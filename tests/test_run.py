"""`make run` end to end: `python -m helpdesk.run` on the embedded default (SQLite and its own
Redis in a private var/ directory) prepares everything, serves the demo, runs the worker and
beat, and leaves no process behind after Ctrl-C.

Slow-ish (about half a minute): it starts the whole product, as a person would.
"""

import http.client
import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from helpdesk.demo import DEMO_LOGINS
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 90
STOP_SECONDS = 20
# Set by the test settings in this process's environment, or by CI: not for the run under test.
NOT_INHERITED = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
    "CELERY_QUEUE",
    "HELPDESK_EMBEDDED_REDIS",
    "CACHE_KEY_PREFIX",
    "SEED_DEMO",
    "SITE_URL",
    "HOST",
    "PORT",
}


def login_of(role: str):
    return next(login for login in DEMO_LOGINS if login.role == role)


def run_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk.settings",
        HELPDESK_VAR_DIR=str(var_dir),
        HOST="127.0.0.1",
        PORT=str(port),
    )
    return env


def proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) from /proc, or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: split after the last one.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], fields[19]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def descendants(root: int) -> dict[int, str]:
    """Every living process below `root`, by pid, with its start time (to tell a reused pid)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[1] != "Z":
                children.setdefault(stat[0], []).append(int(entry.name))
                started[int(entry.name)] = stat[2]
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def alive(processes: dict[int, str]) -> list[int]:
    still = []
    for pid, started in processes.items():
        stat = proc_stat(pid)
        if stat is not None and stat[1] != "Z" and stat[2] == started:
            still.append(pid)
    return still


class Browser:
    """A cookie jar over urllib that does not follow redirects, to see where a login sends."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect
        )

    def request(
        self, path: str, data: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)  # noqa: S310 (http only)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def log_in(
        self, path: str, username: str, password: str
    ) -> tuple[int, http.client.HTTPMessage]:
        status, _headers, page = self.request(path)
        assert status == 200, (path, status)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, headers, _page = self.request(
            path, {"csrfmiddlewaretoken": token, "username": username, "password": password}
        )
        return status, headers


def wait_for(predicate, seconds: float, proc: subprocess.Popen, log: Path, what: str):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"make run exited ({proc.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what} not within {seconds} s:\n{log.read_text()}"
        time.sleep(0.25)


def healthz(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def unacknowledged_tickets(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(
            "SELECT count(*) FROM tickets_ticket t WHERE NOT EXISTS (SELECT 1 FROM "
            "tickets_message m WHERE m.ticket_id = t.id AND m.kind = 'system')"
        ).fetchone()[0]


@pytest.fixture
def started(tmp_path):
    """`python -m helpdesk.run` in the background; stopped, and made sure of, at the end."""
    var_dir, port = tmp_path / "var", free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpdesk.run"],
            cwd=ROOT,
            env=run_env(var_dir, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seen: dict[int, str] = {}
    yield proc, f"http://127.0.0.1:{port}", var_dir, log, seen
    if proc.poll() is None:
        seen.update(descendants(proc.pid))
        proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in alive(seen):
        os.kill(pid, signal.SIGKILL)


def test_make_run_serves_the_demo_and_stops_everything_on_ctrl_c(started):
    proc, base, var_dir, log, seen = started

    wait_for(lambda: healthz(base), READY_SECONDS, proc, log, "/healthz 200")
    wait_for(lambda: "The helpdesk is up" in log.read_text(), 10, proc, log, "the banner")
    banner = log.read_text()
    assert f"{base}/admin/" in banner
    for login in DEMO_LOGINS:
        assert f"{login.username} / {login.password}" in banner

    agent = login_of("agent")
    browser = Browser(base)
    status, headers = browser.log_in("/admin/login/?next=/admin/", agent.username, agent.password)
    assert status == 302 and headers["Location"] == "/admin/", "the demo agent cannot log in"
    assert browser.request("/admin/")[0] == 200

    customer = login_of("customer")
    browser = Browser(base)
    status, headers = browser.log_in("/accounts/login/", customer.username, customer.password)
    assert status == 302 and "/accounts/login/" not in headers["Location"]
    assert browser.cookie("sessionid")
    # A customer is no agent: the admin sends them back to its login page.
    status, headers, _page = browser.request("/admin/")
    assert status == 302 and headers["Location"].startswith("/admin/login/")

    # The worker runs tasks: each seeded ticket gets its automatic acknowledgement, including
    # the one opened a minute before the seed, left to the worker.
    database = var_dir / "db.sqlite3"
    wait_for(lambda: unacknowledged_tickets(database) == 0, 30, proc, log, "acknowledgements")

    seen.update(descendants(proc.pid))
    commands = list(map(cmdline, seen))
    assert any("uvicorn helpdesk.asgi:application" in c for c in commands), commands
    assert any("celery" in c and " worker" in c for c in commands), commands
    assert any("celery" in c and " beat" in c for c in commands), commands
    assert any("redis-server" in c for c in commands), commands

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=STOP_SECONDS) == 130
    assert_all_gone(seen)


def assert_all_gone(processes: dict[int, str]) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: cmdline(pid) for pid in alive(processes)}
    assert not left, f"still running: {left}"


def test_make_run_stops_everything_when_the_embedded_redis_dies(started):
    proc, _base, _var_dir, log, seen = started
    wait_for(lambda: "The helpdesk is up" in log.read_text(), READY_SECONDS, proc, log, "ready")
    seen.update(descendants(proc.pid))
    redis = next(pid for pid in seen if "redis-server" in cmdline(pid))

    os.kill(redis, signal.SIGKILL)

    assert proc.wait(timeout=STOP_SECONDS) == 1
    assert "the embedded Redis stopped" in log.read_text()
    assert_all_gone(seen)


def test_make_run_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "helpdesk.run"],
            cwd=ROOT,
            env=run_env(tmp_path / "var", port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "PORT=" in result.stderr
    # Nothing was started or written before the refusal.
    assert not (tmp_path / "var").exists()


def test_one_process_of_the_procfile_and_the_health_check(tmp_path):
    """The containers' entry points: an unknown process is refused, the probe fails on a port
    where nothing answers."""
    env = run_env(tmp_path / "var", free_port())
    unknown = subprocess.run(
        [sys.executable, "-m", "helpdesk.run", "nosuch"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1
    assert "no process 'nosuch' in the Procfile; known: web, worker, beat" in unknown.stderr

    probe = subprocess.run(
        [sys.executable, "-m", "helpdesk.run", "--healthcheck"], cwd=ROOT, env=env, timeout=60
    )
    assert probe.returncode == 1
