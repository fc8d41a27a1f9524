"""The fault suite: the product as real processes on loopback (uvicorn, Celery worker and beat),
each started by the test and stopped by its own PID, beside a Redis server and an SMTP sink
of the test alone. The machine's Redis and PostgreSQL are never stopped: a test that takes
Redis away takes away its own.

Every fault test prints one `FAULT-COUNTS:` line (sent, stored, acknowledged, emailed,
duplicates) for the resolve note."""

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings

from helpdesk.run import procfile_processes
from tests.processes import child_env, free_port

ROOT = Path(__file__).resolve().parents[2]
# Seconds to wait for a process to answer, or for the product to catch up after a fault: far
# more than a pass takes, for a loaded 2-CPU machine.
READY_SECONDS = 60
SWEEP_SECONDS = 2


def wait_for(condition, what: str, timeout: float = READY_SECONDS, every: float = 0.1):
    """Poll `condition` until true, with a bound: the product is a set of other processes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting until {what}")
        time.sleep(every)


def counts_line(**counts: int) -> str:
    line = "FAULT-COUNTS: " + " ".join(f"{name}={value}" for name, value in counts.items())
    print(line)
    return line


class Process:
    """One product process in its own session (SIGKILL reaches a pool's children too)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=15)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisServer(Process):
    """A redis-server of the test alone, on its own port and directory, keeping nothing on
    disk: a restart finds it empty, as a broker that lost its memory."""

    def __init__(self, directory: Path):
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        super().__init__("redis", command, dict(os.environ), directory / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> "RedisServer":
        super().start()
        wait_for(self.answers, "redis-server answers")
        return self


class Sink:
    """An SMTP server in this process, counting what it accepted by Message-ID. While `held`,
    it keeps each message's final answer back (an MTA that is slow to queue): a worker killed
    then never got its 250, so the message was not accepted, as SMTP has it."""

    def __init__(self):
        self.accepted: Counter[str] = Counter()
        self.purposes: dict[str, str] = {}
        self.waiting = 0
        self.held = False
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.waiting += 1
        try:
            while self.held and not self._gone(server):
                await asyncio.sleep(0.02)
        finally:
            with self._lock:
                self.waiting -= 1
        if self._gone(server):
            return "451 Client gone"
        with self._lock:
            # A long Message-ID may come folded onto a line of its own.
            self.accepted["".join(str(message["Message-ID"]).split())] += 1
        return "250 Message accepted for delivery"

    @staticmethod
    def _gone(server) -> bool:
        return server.transport is None or server.transport.is_closing()

    def total(self) -> int:
        with self._lock:
            return sum(self.accepted.values())

    def duplicates(self) -> int:
        with self._lock:
            return sum(n - 1 for n in self.accepted.values() if n > 1)


@pytest.fixture
def sink():
    smtp = Sink()
    smtp.controller.start()
    yield smtp
    smtp.held = False
    smtp.controller.stop()


class Stack:
    """The product's processes of one test, all on the test database, one Redis and one SMTP
    sink, with private queues and cache keys."""

    def __init__(self, tmp_path: Path, redis_url: str, email_url: str, queue: str = "", **env: str):
        self.tmp_path = tmp_path
        queue = queue or f"faults-{uuid.uuid4().hex[:8]}"
        self.queue = queue
        self.env = child_env(
            REDIS_URL=redis_url,
            EMAIL_URL=email_url,
            CELERY_QUEUE=queue,
            SECRET_KEY=settings.SECRET_KEY,
            HELPDESK_VAR_DIR=str(tmp_path),
            SLA_SWEEP_SECONDS=str(SWEEP_SECONDS),
            CHAT_REDIS_PREFIX=f"chat-{queue}",
            # The fault is the subject, not the doors: every customer here writes from
            # 127.0.0.1, more often than a person would.
            RATE_TICKET_OPEN_IP="100000/h",
            RATE_TICKET_OPEN_ACCOUNT="100000/h",
            RATE_LOGIN_IP="100000/h",
            RATE_LOGIN_ACCOUNT="100000/h",
            RATE_TOKEN_IP="100000/h",
            RATE_TOKEN_ACCOUNT="100000/h",
            LOG_LEVEL="INFO",
            **env,
        )
        self.processes: list[Process] = []

    def _add(self, name: str, **env: str) -> Process:
        """The Procfile's line `name`, as production runs it (`sh -c "exec <line>"`)."""
        number = sum(1 for p in self.processes if p.name == name) + 1
        log = self.tmp_path / f"{name}-{number}.log"
        environment = {**self.env, **env}
        environment["PATH"] = f"{Path(sys.executable).parent}:{environment.get('PATH', '')}"
        command = ["/bin/sh", "-c", f"exec {procfile_processes()[name]}"]
        process = Process(name, command, environment, log).start()
        self.processes.append(process)
        return process

    def web(self) -> Process:
        port = free_port()
        process = self._add("web", HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1")
        process.base = f"http://127.0.0.1:{port}"
        return process

    def worker(self) -> Process:
        return self._add("worker", WORKER_CONCURRENCY="2")

    def beat(self, machine: str = "a") -> Process:
        """A beat on `machine`: its schedule file is that machine's, kept across restarts."""
        var_dir = self.tmp_path / f"beat-{machine}"
        var_dir.mkdir(exist_ok=True)
        return self._add("beat", HELPDESK_VAR_DIR=str(var_dir))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def web_ready(web: Process) -> bool:
    assert web.alive(), f"the web process exited:\n{web.text()[-3000:]}"
    try:
        with urllib.request.urlopen(web.base + "/healthz", timeout=2):  # noqa: S310 (http)
            return True
    except OSError:
        return False


def worker_ready(worker: Process) -> bool:
    assert worker.alive(), f"the worker exited:\n{worker.text()[-3000:]}"
    return " ready." in worker.text()


@pytest.fixture
def stack_of(tmp_path):
    """`stack_of(redis_url, email_url, queue=, **env)`: a Stack; every process stops after the
    test."""
    stacks: list[Stack] = []

    def make(redis_url: str, email_url: str, queue: str = "", **env: str) -> Stack:
        stacks.append(Stack(tmp_path, redis_url, email_url, queue, **env))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.stop()
