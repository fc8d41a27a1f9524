"""A real Celery worker beside a test, on the test's database and a queue of the test alone,
and what Redis does with the messages of a worker that died: for the exactly-once tests.
Loaded as a plugin by tests/conftest.py: the fixtures `queue` and `workers`."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from helpdesk.celery import app
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # seconds to wait for a worker in each step; a pass takes far less
# kombu's Redis transport keeps a delivered, not yet acknowledged message here until the
# worker acknowledges it, or the visibility timeout puts it back on its queue.
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"


class Worker:
    """`celery worker --pool=prefork -c 2` on the test database and a private queue."""

    def __init__(self, *, queue: str, log: Path, env: dict[str, str] | None = None):
        self.queue, self.log = queue, log
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        env = {
            **child_env(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "EMAIL_URL": "memorymail://",
            **self.extra_env,
        }
        command = [sys.executable, "-m", "celery", "-A", "helpdesk", "worker"]
        command += ["--pool=prefork", "-c", "2", "-Q", self.queue, "--loglevel=INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with self.log.open("ab") as log:
            # Its own process group: SIGKILL reaches the pool's children too.
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
            )
        return self

    def ready(self) -> bool:
        return b" ready." in self.log.read_bytes()

    def runs(self, task: str) -> int:
        """Runs of `task` this worker finished, whatever they found to do."""
        marker = f"{task}[".encode()
        return sum(
            1
            for line in self.log.read_bytes().splitlines()
            if marker in line and b"succeeded" in line
        )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def queue():
    """A queue of this test alone, for the tasks this process enqueues and the worker's."""
    name = f"exactly-once-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(settings.REDIS_URL)
    default = app.conf.task_default_queue
    app.conf.task_default_queue = name  # read by the router on every send
    yield name
    app.conf.task_default_queue = default
    broker.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    for tag, _routing_key in held_by_workers(broker, name):
        broker.hdel(UNACKED, tag)
        broker.zrem(UNACKED_INDEX, tag)


@pytest.fixture
def workers(queue, tmp_path):
    """`workers()` starts one more worker on the test's queue (`workers(EMAIL_URL=...)`: with
    that environment besides); all stop after the test."""
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        log = tmp_path / f"worker-{len(started) + 1}.log"
        started.append(Worker(queue=queue, log=log, env=env).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def held_by_workers(broker: redis.Redis, queue: str) -> list[tuple[bytes, str]]:
    """Messages of `queue` delivered to a worker and not acknowledged (acks_late: until the
    task returns)."""
    held = []
    for tag, payload in broker.hgetall(UNACKED).items():
        _message, _exchange, routing_key = json.loads(payload)
        if routing_key == queue:
            held.append((tag, routing_key))
    return held


def redeliver_held(broker: redis.Redis, queue: str) -> int:
    """What Redis does to a dead worker's messages once the visibility timeout (an hour)
    passes: put them back on the queue for another worker."""
    count = 0
    for tag, payload in broker.hgetall(UNACKED).items():
        message, _exchange, routing_key = json.loads(payload)
        if routing_key == queue:
            broker.lpush(queue, json.dumps(message))
            broker.hdel(UNACKED, tag)
            broker.zrem(UNACKED_INDEX, tag)
            count += 1
    return count


def wait_until(condition, what: str, timeout: float = TIMEOUT) -> None:
    """Poll the database or the broker for what an external worker does, with a bound."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.05)
