"""Two real ASGI servers (uvicorn) sharing PostgreSQL and the Redis channel layer, as several
web processes do in production: the customer talks to one, the agent to the other.

1,000 messages each way arrive on both sockets, none lost, none twice, each sender's in the
order sent. Then the customer's server is killed; the customer reconnects to the other with
`after=` and the thread is complete: the database replay is the guarantee.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.chat.conftest import token_of
from tests.processes import database_url, free_port
from tickets.models import Message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
EACH_WAY = 1000
WHILE_AWAY = 50
READY_SECONDS = 30
EXCHANGE_SECONDS = 300


class Server:
    def __init__(self, port: int, env: dict[str, str], log: Path):
        self.port = port
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "uvicorn", "helpdesk.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--no-access-log", "--timeout-graceful-shutdown", "2"),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"server on {self.port} not ready")

    def url(self, ticket_id: int, after: int = 0) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/conversations/{ticket_id}/?after={after}"

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def until_closed(ws, timeout: float = 10) -> None:
    """Read what the dead server sent before it died (presence, read marks: every message was
    collected already) until the connection is seen closed."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                assert frame["type"] != "message", f"a message after the last one: {frame}"


@pytest.fixture
def servers(transactional_db, tmp_path, settings):
    queue = f"chat-two-servers-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "HELPDESK_VAR_DIR": str(tmp_path),
        "CHAT_REDIS_PREFIX": settings.CHAT_REDIS_PREFIX,
        # The test measures loss and order, not the per-connection or per-person limits.
        "CHAT_RATE_PER_SECOND": "100000",
        "CHAT_RATE_BURST": "100000",
        "RATE_CHAT_ACCOUNT": "100000/10m",
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        # Tasks these servers enqueue (acknowledgement, emails) go to a queue of their own.
        "CELERY_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
    }
    started = [Server(free_port(), env, tmp_path / f"server-{i}.log") for i in (1, 2)]
    try:
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)


async def preamble(ws) -> list[dict]:
    """The replayed messages, up to the presence frame that ends them."""
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "presence":
            return frames
        if frame["type"] == "message":
            frames.append(frame["message"])


class Sender:
    """Sends `count` messages, at most WINDOW of them not yet echoed back as stored, as a
    client does that shows its pending messages: the server is never sent more than it can
    take (a flooded server stops reading, and then stops answering pings too)."""

    WINDOW = 20

    def __init__(self, ws, prefix: str, count: int):
        self.ws, self.prefix, self.count = ws, prefix, count
        self.pending: set[str] = set()
        self.room = asyncio.Event()
        self.room.set()

    async def run(self) -> None:
        for i in range(self.count):
            await self.room.wait()
            client_id = str(uuid.uuid4())
            self.pending.add(client_id)
            if len(self.pending) >= self.WINDOW:
                self.room.clear()
            frame = {"type": "message", "body": f"{self.prefix}{i}", "client_id": client_id}
            await self.ws.send(json.dumps(frame))

    def stored(self, frame: dict) -> None:
        self.pending.discard(frame.get("client_id"))
        if len(self.pending) < self.WINDOW:
            self.room.set()


async def collect(ws, count: int, seen: list[dict], sender: Sender | None = None) -> None:
    """Append message frames to `seen` until `count` have come; an error frame fails."""
    while len(seen) < count:
        frame = json.loads(await ws.recv())
        assert frame["type"] != "error", frame
        if frame["type"] == "message":
            seen.append(frame["message"])
            if sender is not None:
                sender.stored(frame)


def check_stream(messages: list[dict], count: int) -> None:
    ids = [m["id"] for m in messages]
    assert len(ids) == len(set(ids)), "a message came twice"
    bodies = [m["body"] for m in messages]
    for prefix in "ca":
        assert [b for b in bodies if b.startswith(prefix)] == [f"{prefix}{i}" for i in range(count)]


def test_two_servers_lose_nothing_and_a_reconnect_completes_the_thread(
    servers, chat_a, customer_a, agent
):
    first, second = servers
    customer_key, agent_key = token_of(customer_a), token_of(agent)

    async def scenario() -> tuple[list[dict], list[dict], list[dict]]:
        customer = await connect(
            first.url(chat_a.pk), additional_headers={"Authorization": f"Token {customer_key}"}
        )
        staff = await connect(
            second.url(chat_a.pk), additional_headers={"Authorization": f"Token {agent_key}"}
        )
        replayed = await preamble(customer)
        assert [m["body"] for m in replayed] == ["Hello, is anyone there?"]
        await preamble(staff)
        at_customer, at_agent = [], []
        customer_sends, agent_sends = Sender(customer, "c", EACH_WAY), Sender(staff, "a", EACH_WAY)
        started = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(
                customer_sends.run(),
                agent_sends.run(),
                collect(customer, 2 * EACH_WAY, at_customer, customer_sends),
                collect(staff, 2 * EACH_WAY, at_agent, agent_sends),
            ),
            EXCHANGE_SECONDS,
        )
        print(f"{2 * EACH_WAY} messages through two servers in {time.monotonic() - started:.1f} s")

        # The customer's server dies; the conversation goes on without them.
        first.stop(signal.SIGKILL)
        await until_closed(customer)
        late = Sender(staff, "late", WHILE_AWAY)
        await asyncio.wait_for(
            asyncio.gather(late.run(), collect(staff, WHILE_AWAY, [], late)), EXCHANGE_SECONDS
        )
        last_seen = max(m["id"] for m in at_customer)
        customer = await connect(
            second.url(chat_a.pk, after=last_seen),
            additional_headers={"Authorization": f"Token {customer_key}"},
        )
        caught_up = await preamble(customer)
        await customer.close()
        await staff.close()
        return replayed + at_customer, at_agent, caught_up

    at_customer, at_agent, caught_up = asyncio.run(scenario())
    check_stream(at_customer[1:], EACH_WAY)
    check_stream(at_agent, EACH_WAY)
    assert [m["body"] for m in caught_up] == [f"late{i}" for i in range(WHILE_AWAY)]
    thread = list(chat_a.messages.order_by("id").values_list("id", flat=True))
    assert sorted(m["id"] for m in at_customer + caught_up) == thread
    assert len(thread) == 1 + 2 * EACH_WAY + WHILE_AWAY
    assert Message.objects.filter(ticket=chat_a).values("client_id").distinct().count() == len(
        thread
    )
