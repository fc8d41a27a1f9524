"""Soak: the processes of the Procfile (uvicorn x2, a Celery prefork worker, beat) under a
steady mix for minutes: customers opening tickets over the API and chatting on their sockets,
agents replying and reading, managers on the dashboard. Are there errors, how slow is each
endpoint at the 99th percentile, and does any process's memory keep growing?

    .venv/bin/python -m bench.soak --name soak --redis-db 14
    .venv/bin/python -m bench.soak --name soak --redis-db 14 --duration 60 --sockets 100

`--sockets` customers each hold one socket on their chat (`/ws/conversations/<id>/`), all in
this one process (asyncio, the `websockets` client), open for the whole run. Operations leave
at a steady `--rate` per second (open loop: operation k is due at start + k / rate, whatever
the answers), drawn in a fixed, seeded order from the mix below; HTTP requests go through
`--clients` threads, each with keep-alive connections, chat frames through the sockets.

An error is an HTTP answer other than the one expected (or no answer), a socket closed by the
server, an `error` frame, a chat message whose echo did not come back on its socket or an
agent's reply that did not reach the customer's socket within `--grace` seconds after the
last operation. Latency is from sending to the last byte of the answer (for a chat message:
to its echo, the stored message's frame; for a reply: to its frame on the customer's socket).

Memory: VmRSS (/proc/<pid>/status) summed over each process tree (uvicorn's master and its
workers; Celery's main process and its pool; beat), sampled every `--sample` seconds; the
report compares the sample at minute 1 (`--first-sample`) with the last one. Pages shared
between a master and its children are counted in each: the sums are a ceiling, their growth
is the measure.
"""

import argparse
import asyncio
import collections
import concurrent.futures
import dataclasses
import itertools
import json
import random
import threading
import time
import uuid
from pathlib import Path

from bench.chat_delivery import conversations_open, fd_limit_raise, socket_open
from bench.harness import environment, httpclient, persons, processes, report
from bench.sla_breach_lag import Beat

# Operations per 50: the mix. Each is (label, weight).
MIX = (
    ("chat message (socket)", 10),
    ("POST /api/v1/tickets/", 5),
    ("GET /api/v1/tickets/ (customer)", 8),
    ("GET /api/v1/tickets/{id}/ (customer)", 5),
    ("POST /api/v1/tickets/{id}/messages/ (agent)", 8),
    ("GET /api/v1/tickets/?status=open (agent)", 5),
    ("GET /api/v1/tickets/{id}/messages/ (agent)", 3),
    ("GET /dashboard/sla/ (manager)", 3),
    ("GET /api/v1/sla/summary/ (manager)", 3),
)
CHAT, OPEN, CUSTOMER_LIST, CUSTOMER_READ, REPLY, AGENT_LIST, AGENT_THREAD, DASHBOARD, SUMMARY = (
    label for label, _weight in MIX
)
TICKET = {
    "subject": "The server does not answer on port 443",
    "body": "Since this morning https times out; ping works. I rebooted it once.",
    "category": "vps",
}


def process_tree_rss_kb(pid: int) -> int:
    """VmRSS of `pid` and its live descendants, in kB (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we read
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    tree, frontier = set(), {pid}
    while frontier:
        tree |= frontier
        frontier = {child for child, parent in parents.items() if parent in frontier} - tree
    total = 0
    for member in tree:
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
    return total


@dataclasses.dataclass
class Tally:
    """What the load saw, per operation."""

    seconds: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    errors: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    sent: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    late: list[float] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def answered(self, label: str, ok: bool, seconds: float, why: str = "") -> None:
        with self.lock:
            if ok:
                self.seconds[label].append(seconds)
            else:
                self.errors[(label, why)] += 1


class Sockets:
    """The customers' sockets, each read by a task of its own: which frames came back."""

    def __init__(self, tally: Tally):
        self.tally = tally
        self.by_ticket: dict[int, object] = {}
        self.readers: list[asyncio.Task] = []
        self.waiting: dict[str, tuple[str, float]] = {}  # tag -> (label, sent at)

    async def open(self, servers: list[int], conversations) -> float:
        started = time.perf_counter()
        gate = asyncio.Semaphore(50)

        async def one(n: int, conversation) -> None:
            port = servers[n % len(servers)]
            url = f"ws://127.0.0.1:{port}/ws/conversations/{conversation.ticket_id}/"
            async with gate:
                ws = await socket_open(url, conversation.customer_token)
            self.by_ticket[conversation.ticket_id] = ws
            self.readers.append(asyncio.create_task(self.read(ws)))

        await asyncio.gather(*(one(n, c) for n, c in enumerate(conversations)))
        return time.perf_counter() - started

    async def read(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "error":
                    self.tally.answered(CHAT, False, 0, f"error frame {frame.get('code')}")
                    continue
                if frame.get("type") != "message":
                    continue
                tag = frame.get("client_id") or frame["message"]["body"].rsplit(" ", 1)[-1]
                if (waiting := self.waiting.pop(tag, None)) is not None:
                    label, sent = waiting
                    self.tally.answered(label, True, time.perf_counter() - sent)
        except ConnectionClosed:
            pass
        if ws.close_code not in (1000, 1001, None):
            self.tally.answered(CHAT, False, 0, f"socket closed {ws.close_code}")

    def expect(self, tag: str, label: str) -> None:
        self.waiting[tag] = (label, time.perf_counter())

    async def send(self, ticket_id: int) -> None:
        from websockets.exceptions import ConnectionClosed

        tag = str(uuid.uuid4())  # the server answers with the UUID's canonical text
        self.expect(tag, CHAT)
        body = f"Soak chat message {tag}"
        try:
            await self.by_ticket[ticket_id].send(
                json.dumps({"type": "message", "client_id": tag, "body": body})
            )
        except ConnectionClosed:
            self.waiting.pop(tag, None)
            self.tally.answered(CHAT, False, 0, "socket closed before sending")

    async def close(self) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(ws.close() for ws in self.by_ticket.values()), return_exceptions=True),
            60,
        )
        await asyncio.gather(*self.readers, return_exceptions=True)


class Http:
    """Keep-alive connections per thread and person; one operation per call."""

    def __init__(self, port: int, tally: Tally, sockets: Sockets):
        self.port, self.tally, self.sockets = port, tally, sockets
        self.local = threading.local()
        self.opened: list[tuple[str, int]] = []  # (customer token, ticket id) opened meanwhile

    def client(self, token: str | None = None, cookie: str | None = None):
        clients = getattr(self.local, "clients", None)
        if clients is None:
            clients = self.local.clients = {}
        key = token or cookie
        if key not in clients:
            clients[key] = httpclient.HttpClient(self.port, token=token, cookie=cookie)
        return clients[key]

    def call(self, label: str, client, method: str, path: str, body=None, expected=200):
        try:
            status, data, seconds = client.request(method, path, body)
        except OSError as error:
            self.tally.answered(label, False, 0, type(error).__name__)
            return None
        ok = status == expected
        self.tally.answered(label, ok, seconds, "" if ok else f"HTTP {status}")
        return data if ok else None

    def run(self, label: str, k: int, conversation, plan: "Plan") -> None:
        customer = self.client(conversation.customer_token)
        agent = self.client(conversation.agent_token)
        if label == OPEN:
            data = self.call(label, customer, "POST", "/api/v1/tickets/", TICKET, expected=201)
            if data is not None:
                self.opened.append((conversation.customer_token, json.loads(data)["id"]))
        elif label == CUSTOMER_LIST:
            self.call(label, customer, "GET", "/api/v1/tickets/")
        elif label == CUSTOMER_READ:
            token, ticket_id = (
                self.opened[k % len(self.opened)]
                if self.opened and k % 2
                else (conversation.customer_token, conversation.ticket_id)
            )
            self.call(label, self.client(token), "GET", f"/api/v1/tickets/{ticket_id}/")
        elif label == REPLY:
            tag = uuid.uuid4().hex
            self.sockets.expect(tag, f"{REPLY} -> customer's socket")
            body = {"body": f"We are looking at it. {tag}"}
            path = f"/api/v1/tickets/{conversation.ticket_id}/messages/"
            if self.call(label, agent, "POST", path, body, expected=201) is None:
                self.sockets.waiting.pop(tag, None)
        elif label == AGENT_LIST:
            self.call(label, agent, "GET", "/api/v1/tickets/?status=open")
        elif label == AGENT_THREAD:
            path = f"/api/v1/tickets/{conversation.ticket_id}/messages/"
            self.call(label, agent, "GET", path)
        elif label == DASHBOARD:
            self.call(label, self.client(cookie=plan.manager_cookie), "GET", "/dashboard/sla/")
        elif label == SUMMARY:
            self.call(label, self.client(plan.manager_token), "GET", "/api/v1/sla/summary/")

    def close(self) -> None:
        for client in getattr(self.local, "clients", {}).values():
            client.close()


@dataclasses.dataclass
class Plan:
    conversations: list
    manager_token: str
    manager_cookie: str
    order: list[str]  # one second's operations, in a fixed shuffled order


def plan_order(rate: float, seed: int) -> list[str]:
    """The mix scaled to `rate` operations a second, in a fixed pseudo-random order."""
    total = sum(weight for _label, weight in MIX)
    order = [label for label, weight in MIX for _ in range(max(1, round(weight * rate / total)))]
    random.Random(seed).shuffle(order)
    return order


class Memory:
    """RSS of each process tree every `every` seconds, from the start of the load."""

    def __init__(self, trees: dict[str, int], every: float):
        self.trees, self.every = trees, every
        self.samples: list[tuple[float, dict[str, int]]] = []

    async def sample(self, start: float, until: float) -> None:
        while (now := time.perf_counter()) < until:
            self.samples.append((now - start, self.now()))
            await asyncio.sleep(min(self.every, max(0.0, until - now)))
        self.samples.append((time.perf_counter() - start, self.now()))

    def now(self) -> dict[str, int]:
        return {name: process_tree_rss_kb(pid) for name, pid in self.trees.items()}

    def at(self, seconds: float) -> tuple[float, dict[str, int]]:
        return next((s for s in self.samples if s[0] >= seconds), self.samples[-1])


async def soak(args, bench, plan: Plan, trees: dict[str, int], ports: list[int]) -> dict:
    tally = Tally()
    sockets = Sockets(tally)
    connect_seconds = await sockets.open(ports, plan.conversations)
    http = Http(ports[0], tally, sockets)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.clients)
    loop = asyncio.get_running_loop()
    memory = Memory(trees, args.sample)
    total = round(args.rate * args.duration)
    start = time.perf_counter() + 0.5
    sampler = asyncio.create_task(memory.sample(start, start + args.duration))
    in_flight: set = set()
    # Each operation walks through all the conversations in turn.
    turns = collections.defaultdict(itertools.count)
    load_before = report.load_average()
    for k in range(total):
        due = start + k / args.rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        label = plan.order[k % len(plan.order)]
        with tally.lock:
            tally.late.append(time.perf_counter() - due)
            tally.sent[label] += 1
        conversation = plan.conversations[next(turns[label]) % len(plan.conversations)]
        if label == CHAT:
            await sockets.send(conversation.ticket_id)
        else:
            future = loop.run_in_executor(pool, http.run, label, k, conversation, plan)
            in_flight.add(future)
            future.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)
    elapsed = time.perf_counter() - start
    await sampler
    deadline = time.perf_counter() + args.grace
    while sockets.waiting and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    for label, _sent in sockets.waiting.values():
        tally.answered(label, False, 0, "no frame within the grace period")
    load_after = report.load_average()
    await sockets.close()
    pool.shutdown()
    return {
        "tally": tally,
        "memory": memory,
        "elapsed": elapsed,
        "connect_seconds": connect_seconds,
        "load": (load_before, load_after),
    }


def logged_errors(*logs: Path) -> list[str]:
    lines = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if "Traceback" in line or " ERROR" in line or "CRITICAL" in line:
                lines.append(f"{log.name}: {line.strip()[:200]}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument("--rate", type=float, default=50, help="operations per second")
    parser.add_argument("--duration", type=float, default=300, help="seconds at that rate")
    parser.add_argument("--sockets", type=int, default=500, help="customers' open chat sockets")
    parser.add_argument("--agents", type=int, default=10, help="first-line agents replying")
    parser.add_argument("--clients", type=int, default=32, help="HTTP threads (in flight)")
    parser.add_argument("--sample", type=float, default=15, help="seconds between RSS samples")
    parser.add_argument("--first-sample", type=float, default=60, help="the 'minute 1' sample")
    parser.add_argument("--grace", type=float, default=30, help="seconds for the last frames")
    parser.add_argument("--seed", type=int, default=15, help="of the mix's order")
    args = parser.parse_args(argv)
    bench = environment.Bench.from_args(args)
    fd_limit_raise(args.sockets + args.clients * 4)
    bench.setup()

    seeding = time.perf_counter()
    bench.database_recreate()
    conversations = conversations_open(args.sockets, args.agents)
    staff = persons.people_create(customers=0)
    plan = Plan(
        conversations=conversations,
        manager_token=staff.manager.token,
        manager_cookie=persons.session_cookie(staff.manager.user),
        order=plan_order(args.rate, args.seed),
    )
    seeded = time.perf_counter() - seeding

    print(report.report_header("Soak: the Procfile's processes under a steady mix"))
    print(
        f"processes: uvicorn x{bench.web_workers}, celery prefork x{bench.worker_concurrency}, "
        f"beat; {args.sockets} customers' sockets open throughout; {args.rate:g} operations/s "
        f"for {args.duration:g} s; seeded in {seeded:.1f} s"
    )
    with (
        processes.Worker(bench) as worker,
        Beat(bench) as beat,
        processes.Server(bench) as web,
    ):
        trees = {"web": web.proc.pid, "worker": worker.proc.pid, "beat": beat.proc.pid}
        result = asyncio.run(soak(args, bench, plan, trees, [web.port]))
        logged = logged_errors(web.log, worker.log, beat.log)
    print_report(args, result, logged)


def print_report(args, result: dict, logged: list[str]) -> None:
    tally: Tally = result["tally"]
    sent = sum(tally.sent.values())
    errors = sum(tally.errors.values())
    print(
        f"sockets opened in {result['connect_seconds']:.1f} s; {sent} operations in "
        f"{result['elapsed']:.1f} s ({sent / result['elapsed']:.1f}/s); schedule late p99 "
        f"{report.percentile(tally.late, 99) * 1000:.0f} ms; load average "
        f"{result['load'][0]} -> {result['load'][1]}"
    )
    print(f"errors: {errors} ({errors / max(1, sent) * 100:.2f} %)")
    for (label, why), count in sorted(tally.errors.items()):
        print(f"  {count:6d}  {label}: {why}")
    print(f"{'operation':<58} {'done':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label in sorted(tally.seconds):
        figures = report.latency_summary(tally.seconds[label])
        print(
            f"{label:<58} {len(tally.seconds[label]):6d} {figures['p50_ms']:8.0f} "
            f"{figures['p99_ms']:8.0f} {figures['max_ms']:8.0f}"
        )
    memory: Memory = result["memory"]
    (first_at, first), (last_at, last) = memory.at(args.first_sample), memory.samples[-1]
    print(f"memory (VmRSS summed over each process tree) at {first_at:.0f} s and {last_at:.0f} s:")
    for name in first:
        growth = (last[name] - first[name]) / first[name] * 100
        print(
            f"  {name:<7} {first[name] / 1024:7.1f} MB -> {last[name] / 1024:7.1f} MB "
            f"({growth:+.1f} %)"
        )
    print(
        "  samples (s: web/worker/beat MB): "
        + "; ".join(
            f"{at:.0f}: " + "/".join(f"{kb / 1024:.0f}" for kb in rss.values())
            for at, rss in memory.samples
        )
    )
    print(f"errors in the processes' logs: {len(logged)}")
    for line in logged[:20]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
