"""Live chat delivery: a customer's message, sent on a socket of server A, received as the stored
`message` frame on the agent's socket of server B (two uvicorn processes sharing PostgreSQL and
the Redis channel layer, as several web processes do in production).

    .venv/bin/python -m bench.chat_delivery --name cb --redis-db 9
    .venv/bin/python -m bench.chat_delivery --layer core --rate 250 --duration 30

`--conversations` chats are opened (`chat_start`, one customer each); each customer holds one
socket on A (`--port`), and the conversation's agent one socket on B (`--port-b`); each server
is one uvicorn process (`--web-workers` does not apply). Agents are members of the first line
with at most CHAT_MAX_CONNECTIONS_PER_USER sockets each, so the product's limits hold; so does
the per-connection rate (customers take turns: each sends every conversations / rate seconds).
`--layer core` runs both servers on channels-redis' RedisChannelLayer instead of the PubSub
layer of the settings (bench/chat_settings.py).

Messages leave at a steady `--rate` (open loop: message k is due at start + k / rate, whatever
the answers), round robin over the conversations, each with a client_id and its send time in
its body. The latency of a message is from its send to the moment its frame arrives on the
agent's socket; the server sends that frame only after the message is stored and committed,
so it includes the store. Also timed: the echo of the same frame to the customer on A.

Lost: sent and not received by the agent within `--grace` seconds after the last send; the
database says how many were stored. Memory per connection: the growth of both servers' VmRSS
(/proc/<pid>/status) from idle (after one warm-up conversation) to all sockets open, divided
by the sockets. A `--warmup` at the rate comes first and is not counted.
"""

import argparse
import asyncio
import collections
import dataclasses
import json
import math
import os
import resource
import time
import uuid
from pathlib import Path

from bench.harness import environment, processes, report

CONNECT_CONCURRENCY = 50
CONNECT_TIMEOUT_SECONDS = 120
SETTLE_QUIET_SECONDS = 1.0
SETTLE_MAX_SECONDS = 60
CLOSE_TIMEOUT_SECONDS = 30
FIRST_MESSAGE = "Hello, my server does not answer since this morning."


@dataclasses.dataclass(frozen=True)
class ChatBench(environment.Bench):
    layer: str = "pubsub"
    port_b: int = 0
    # Presence and connection counts of an earlier run (ids repeat in a fresh database) live
    # on in Redis for CHAT_PRESENCE_TTL_SECONDS: each run has keys of its own.
    run: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self):
        super().__post_init__()
        if not self.port_b:
            object.__setattr__(self, "port_b", environment.free_port())

    def environ(self) -> dict[str, str]:
        return {
            **super().environ(),
            "DJANGO_SETTINGS_MODULE": "bench.chat_settings",
            "BENCH_CHANNEL_LAYER": self.layer,
            "BENCH_CHANNEL_PREFIX": f"asgi-bench-{self.name}-{self.run}",
            "CHAT_REDIS_PREFIX": f"chat-bench-{self.name}-{self.run}",
        }


class Server(processes.Server):
    """One of the two web processes, on a port of its own, its log named after it."""

    def __init__(self, bench: ChatBench, port: int, name: str):
        self.name, self._port = name, port
        super().__init__(bench)

    @property
    def port(self) -> int:
        return self._port

    def url(self, ticket_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/conversations/{ticket_id}/"

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.proc.pid}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def errors_logged(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "Error" in line or "ERROR" in line or "WARNING" in line]


# --- Seeding ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Conversation:
    ticket_id: int
    customer_token: str
    agent_token: str


def conversations_open(count: int, agents: int) -> list[Conversation]:
    """`count` customers with a chat each (through `chat_start`, as the API opens one) and
    `agents` first-line agents sharing them; every one with an API token."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.services import customer_upsert
    from escalation.routing import FIRST_LINE_TEAM
    from teams.models import Team, TeamMembership
    from usecases.chat import chat_start

    User = get_user_model()
    customers = [
        customer_upsert(username=f"chat-customer-{n}", email=f"chat-customer-{n}@example.com")
        for n in range(1, count + 1)
    ]
    staff = User.objects.bulk_create(
        User(username=f"chat-agent-{n}", email=f"chat-agent-{n}@example.com", is_staff=True)
        for n in range(1, agents + 1)
    )
    first_line = Team.objects.get(slug=FIRST_LINE_TEAM)
    TeamMembership.objects.bulk_create(TeamMembership(team=first_line, user=a) for a in staff)
    tokens = {
        token.user_id: token.key
        for token in Token.objects.bulk_create(
            Token(user=user, key=Token.generate_key()) for user in [*customers, *staff]
        )
    }
    tickets = [
        chat_start(customer=customer, now=timezone.now(), body=FIRST_MESSAGE)
        for customer in customers
    ]
    if any(ticket.team_id != first_line.pk for ticket in tickets):
        raise RuntimeError("a chat did not reach the first line: its agents could not see it")
    # The acknowledgements these chats enqueued: no worker runs, the bench measures the chat.
    environment.queue_purge()
    return [
        Conversation(
            ticket_id=ticket.pk,
            customer_token=tokens[customer.pk],
            agent_token=tokens[staff[n % agents].pk],
        )
        for n, (ticket, customer) in enumerate(zip(tickets, customers, strict=True))
    ]


# --- Clients ----------------------------------------------------------------------------------


class Tally:
    """What the sockets saw: per client_id, when it was sent and when its frame arrived."""

    def __init__(self):
        self.sent: dict[str, float] = {}
        self.at_agent: dict[str, float] = {}
        self.at_customer: dict[str, float] = {}
        self.duplicates = collections.Counter()
        self.errors = collections.Counter()
        self.closed = collections.Counter()
        self.late: list[float] = []
        self.unsent = 0
        self.last_frame_at = time.perf_counter()

    def frame(self, side: str, frame: dict, at: float) -> None:
        self.last_frame_at = at
        kind = frame.get("type")
        if kind == "error":
            self.errors[frame.get("code")] += 1
            return
        if kind != "message":
            return
        client_id = frame.get("client_id")
        if client_id not in self.sent:
            return  # a first message, or one of the warm-up's
        arrived = self.at_agent if side == "agent" else self.at_customer
        if client_id in arrived:
            self.duplicates[side] += 1
            return
        # The send time travels in the body: what the agent reads is what was sent.
        arrived[client_id] = at - float(frame["message"]["body"].rsplit(" ", 1)[1])


async def socket_open(url: str, token: str):
    """A connected socket past its preamble (the replay, then the presence frame)."""
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        additional_headers={"Authorization": f"Token {token}"},
        open_timeout=CONNECT_TIMEOUT_SECONDS,
    )
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "presence":
            return ws
        if frame["type"] == "error":
            raise RuntimeError(f"{url}: {frame}")


async def socket_read(ws, side: str, tally: Tally) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in ws:
            tally.frame(side, json.loads(raw), time.perf_counter())
    except ConnectionClosed:
        pass
    if ws.close_code not in (1000, 1001, None):
        tally.closed[f"{side} {ws.close_code}"] += 1


class Clients:
    """Both sockets of every conversation, each read by a task of its own."""

    def __init__(self, conversations: list[Conversation], a: Server, b: Server, tally: Tally):
        self.conversations, self.a, self.b, self.tally = conversations, a, b, tally
        self.customers: list = []
        self.agents: list = []
        self.readers: list[asyncio.Task] = []

    async def open(self) -> tuple[float, float]:
        """Customers' sockets, then agents'; the seconds each took."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(server: Server, conversation: Conversation, token: str, side: str):
            async with gate:
                ws = await socket_open(server.url(conversation.ticket_id), token)
            self.readers.append(asyncio.create_task(socket_read(ws, side, self.tally)))
            return ws

        self.customers = await asyncio.wait_for(
            asyncio.gather(
                *(one(self.a, c, c.customer_token, "customer") for c in self.conversations)
            ),
            CONNECT_TIMEOUT_SECONDS,
        )
        customers = time.perf_counter() - started
        self.agents = await asyncio.wait_for(
            asyncio.gather(*(one(self.b, c, c.agent_token, "agent") for c in self.conversations)),
            CONNECT_TIMEOUT_SECONDS,
        )
        return customers, time.perf_counter() - started - customers

    async def settle(self) -> None:
        """Until no frame came for a second: the presence updates of the agents' arrival."""
        deadline = time.perf_counter() + SETTLE_MAX_SECONDS
        while time.perf_counter() < deadline:
            if time.perf_counter() - self.tally.last_frame_at > SETTLE_QUIET_SECONDS:
                return
            await asyncio.sleep(0.2)

    async def send(self, rate: float, duration: float) -> list[str]:
        """`rate` customer messages a second for `duration` seconds, round robin; their ids."""
        from websockets.exceptions import ConnectionClosed

        total = round(rate * duration)
        client_ids = []
        start = time.perf_counter()
        for k in range(total):
            due = start + k / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            ws = self.customers[k % len(self.customers)]
            client_id = str(uuid.uuid4())
            now = time.perf_counter()
            self.tally.late.append(now - due)
            self.tally.sent[client_id] = now
            client_ids.append(client_id)
            body = f"Bench message {k} sent at {now:.6f}"
            try:
                await ws.send(json.dumps({"type": "message", "client_id": client_id, "body": body}))
            except ConnectionClosed:
                self.tally.unsent += 1  # the server closed this socket: counted, not retried
        return client_ids

    async def arrived(self, client_ids: list[str], grace: float) -> None:
        """Until every message reached both sides, or `grace` seconds."""
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline:
            if all(c in self.tally.at_agent and c in self.tally.at_customer for c in client_ids):
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        # Customers first: each agent leaving then tells only the agents' sockets.
        for group in (self.customers, self.agents):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in group), return_exceptions=True),
                CLOSE_TIMEOUT_SECONDS,
            )
        await asyncio.gather(*self.readers, return_exceptions=True)


async def warm_up(conversation: Conversation, a: Server, b: Server) -> None:
    """One conversation through both servers, so that idle memory counts what is loaded once
    (modules, connections to PostgreSQL and Redis), not what each socket costs."""
    tally = Tally()
    clients = Clients([conversation], a, b, tally)
    await clients.open()
    sent = await clients.send(rate=10, duration=0.3)
    await clients.arrived(sent, grace=30)
    await clients.close()


# --- Run --------------------------------------------------------------------------------------


def fd_limit_raise(sockets: int) -> None:
    """This process holds every client socket: make sure the soft limit allows them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sockets + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"ulimit -n allows {hard} files; {needed} are needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def latency_line(label: str, seconds: list[float]) -> str:
    figures = report.latency_summary(seconds)
    return (
        f"{label:<22} p50 {figures['p50_ms']:6.1f} ms, p95 {figures['p95_ms']:6.1f} ms, "
        f"p99 {figures['p99_ms']:6.1f} ms, max {figures['max_ms']:6.1f} ms"
    )


async def measure(args, bench: ChatBench, conversations: list[Conversation]) -> dict:
    with Server(bench, bench.port, "web-a") as a, Server(bench, bench.port_b, "web-b") as b:
        servers = (a, b)
        await warm_up(conversations[0], a, b)
        await asyncio.sleep(1)
        idle = [s.rss_kb() for s in servers]
        tally = Tally()
        clients = Clients(conversations, a, b, tally)
        connect_seconds = await clients.open()
        await clients.settle()
        opened = [s.rss_kb() for s in servers]
        await clients.send(args.rate, args.warmup)
        tally.sent.clear()
        tally.late.clear()
        tally.unsent = 0
        load_before = report.load_average()
        cpu_before = [s.cpu_seconds() for s in servers]
        client_before = time.process_time()
        started = time.perf_counter()
        client_ids = await clients.send(args.rate, args.duration)
        elapsed = time.perf_counter() - started
        await clients.arrived(client_ids, args.grace)
        cpu = [s.cpu_seconds() - before for s, before in zip(servers, cpu_before, strict=True)]
        client_cpu = time.process_time() - client_before
        loaded = [s.rss_kb() for s in servers]
        load_after = report.load_average()
        await clients.close()
        logged = [line for s in servers for line in s.errors_logged()]
    return {
        "tally": tally,
        "client_ids": client_ids,
        "elapsed": elapsed,
        "connect_seconds": connect_seconds,
        "idle": idle,
        "opened": opened,
        "loaded": loaded,
        "cpu": cpu,
        "client_cpu": client_cpu,
        "load": (load_before, load_after),
        "logged": logged,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_delivery", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument("--conversations", type=int, default=500, help="2 sockets each")
    parser.add_argument("--rate", type=float, default=250, help="customer messages per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds at that rate")
    parser.add_argument("--warmup", type=float, default=5, help="seconds at the rate first")
    parser.add_argument("--grace", type=float, default=10, help="seconds to wait for the last")
    parser.add_argument(
        "--layer",
        choices=["pubsub", "core"],
        default="pubsub",
        help="channels-redis layer: RedisPubSubChannelLayer (production) or RedisChannelLayer",
    )
    parser.add_argument("--port-b", type=int, default=0, help="port of server B (default: free)")
    args = parser.parse_args(argv)
    # Each server is one uvicorn process: what one process takes is the measure.
    bench = ChatBench(
        **{**dataclasses.asdict(environment.Bench.from_args(args)), "web_workers": 1},
        layer=args.layer,
        port_b=args.port_b,
    )
    fd_limit_raise(2 * args.conversations)
    bench.setup()

    from django.conf import settings

    per_agent = settings.CHAT_MAX_CONNECTIONS_PER_USER
    agents = math.ceil(args.conversations / per_agent)
    if args.rate / args.conversations > settings.CHAT_RATE_PER_SECOND:
        parser.error("each customer would send faster than CHAT_RATE_PER_SECOND")

    seeding = time.perf_counter()
    bench.database_recreate()
    conversations = conversations_open(args.conversations, agents)
    seeded = time.perf_counter() - seeding

    print(report.report_header("Live chat delivery: customer on A -> stored frame to agent on B"))
    print(
        f"setup:   {args.conversations} chats opened in {seeded:.0f} s (fresh database); "
        f"{args.conversations} customers on A :{bench.port}, {agents} agents x {per_agent} "
        f"sockets on B :{bench.port_b}; layer {args.layer}; uvicorn x1 each"
    )
    result = asyncio.run(measure(args, bench, conversations))

    from tickets.models import Message

    tally: Tally = result["tally"]
    client_ids = result["client_ids"]
    stored = Message.objects.filter(client_id__in=client_ids).count()
    lost = [c for c in client_ids if c not in tally.at_agent]
    echo_lost = [c for c in client_ids if c not in tally.at_customer]
    sockets = 2 * args.conversations
    grown = sum(result["opened"]) - sum(result["idle"])
    grown_loaded = sum(result["loaded"]) - sum(result["idle"])
    sent = len(client_ids)

    def mb(kb: int) -> str:
        return f"{kb / 1024:.0f} MB"

    print(
        f"sockets: {args.conversations} customers' open in {result['connect_seconds'][0]:.1f} s, "
        f"{args.conversations} agents' in {result['connect_seconds'][1]:.1f} s; "
        f"load average {result['load'][0]} (before) {result['load'][1]} (after)"
    )
    print(
        f"sent:    {sent} messages in {result['elapsed']:.1f} s ({sent / result['elapsed']:.0f}/s), "
        f"schedule late p99 {report.percentile(tally.late, 99) * 1000:.1f} ms"
    )
    print(latency_line("customer -> agent (B)", list(tally.at_agent.values())))
    print(latency_line("echo to customer (A)", list(tally.at_customer.values())))
    print(
        f"lost:    {len(lost)} at the agent, {len(echo_lost)} at the customer "
        f"(after {args.grace:g} s grace); stored {stored}/{sent}; "
        f"duplicates {dict(tally.duplicates) or 0}; error frames {dict(tally.errors) or 0}; "
        f"closed {dict(tally.closed) or 0}; unsent on a closed socket {tally.unsent}"
    )
    print(
        f"memory:  A {mb(result['idle'][0])} idle -> {mb(result['opened'][0])} with sockets -> "
        f"{mb(result['loaded'][0])} after load; B {mb(result['idle'][1])} -> "
        f"{mb(result['opened'][1])} -> {mb(result['loaded'][1])}; per connection "
        f"{grown / sockets:.0f} KB ({grown_loaded / sockets:.0f} KB after load)"
    )
    print(
        f"cpu:     A {result['cpu'][0]:.1f} s, B {result['cpu'][1]:.1f} s for {sent} messages "
        f"({result['cpu'][0] / sent * 1000:.2f} + {result['cpu'][1] / sent * 1000:.2f} ms "
        f"a message); this client {result['client_cpu']:.1f} s"
    )
    if result["logged"]:
        print(f"server logs: {len(result['logged'])} warnings/errors, first: {result['logged'][0]}")


if __name__ == "__main__":
    main()
