"""Redis stops while customers open tickets over the API, the portal and chat.

The product runs as real processes (uvicorn, a Celery worker, beat) on a redis-server of this
test, which stops it by its PID for OUTAGE_SECONDS and starts it again, empty: the tasks queued
before the outage are lost with it. Meanwhile every request to open a ticket still answers
201 (API) or 302 (portal form), `/healthz` answers 503 naming Redis, and a chat client
connected before the outage is told (its socket closed) and comes back with `after=` once
Redis is back. Then every request is acknowledged once (one system message, one email) by the
sweep, which finds what the lost tasks left undone.

OUTAGE_SECONDS is 12: several sweep periods (2 s here), enough for a socket's reconnection
attempts to meet a Redis that is still down, and for the worker and beat to lose their
connections; the product's behaviour does not change between 12 s and 30 s (nothing in it
counts the outage's length), and the suite's time is shared with every other test.
"""

import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
from django.db.models import Count, Q
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from sla.models import Clock
from sla.policy import Metric
from teams.models import Team
from teams.services import support_structure_setup
from tests import factories
from tests.faults.conftest import RedisServer, counts_line, wait_for, web_ready, worker_ready
from tickets.models import Channel, Message, OutboundEmail, Ticket
from tickets.selectors import message_kinds_visible_to

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

OUTAGE_SECONDS = 12
RECOVERY_SECONDS = 90
CSRF = "f" * 32  # a csrftoken cookie of our choosing; the form sends the same secret


class Http:
    """Plain HTTP to the web process, as a customer's browser or script would send it."""

    def __init__(self, base: str):
        self.host, self.port = urlsplit(base).hostname, urlsplit(base).port

    def request(self, method: str, path: str, body: bytes = b"", headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheader("Location", ""), response.read()
        finally:
            conn.close()

    def api(self, token: str, path: str, payload: dict):
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        status, _location, body = self.request("POST", path, json.dumps(payload).encode(), headers)
        return status, (json.loads(body) if body.startswith(b"{") else {})

    def portal_open(self, session: str, subject: str):
        form = {
            "csrfmiddlewaretoken": CSRF,
            "subject": subject,
            "category": "vps",
            "priority": "normal",
            "description": "The server does not answer since this morning.",
        }
        headers = {
            "Cookie": f"sessionid={session}; csrftoken={CSRF}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, location, _body = self.request(
            "POST", "/tickets/new/", urlencode(form).encode(), headers
        )
        ticket_id = int(location.strip("/").split("/")[-1]) if status == 302 else None
        return status, ticket_id

    def healthz(self):
        status, _location, body = self.request("GET", "/healthz")
        return status, json.loads(body)


class ChatClient(threading.Thread):
    """A customer's chat window: connected before the outage, reconnecting with `after=` the
    last message it has whenever the server closes it, as static/js/chat.js does."""

    def __init__(self, base: str, ticket_id: int, token: str):
        super().__init__(daemon=True)
        self.url = f"ws://{urlsplit(base).netloc}/ws/conversations/{ticket_id}/"
        self.headers = {"Authorization": f"Token {token}"}
        self.received: list[int] = []
        self.opened: list[float] = []
        self.closed: list[tuple[float, int | None]] = []
        self.refused = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            after = max(self.received, default=0)
            try:
                with connect(
                    f"{self.url}?after={after}", additional_headers=self.headers, open_timeout=5
                ) as ws:
                    self.opened.append(time.monotonic())
                    while not self.stopping.is_set():
                        try:
                            frame = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if frame["type"] == "message":
                            self.received.append(frame["message"]["id"])
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                self.closed.append((time.monotonic(), code))
            except (InvalidHandshake, OSError, TimeoutError):
                self.refused += 1
            self.stopping.wait(0.5)  # the page's backoff, shortened


def ticket_ids_of(customers) -> list[int]:
    return list(Ticket.objects.filter(customer__in=customers).values_list("pk", flat=True))


def acknowledged_each(ticket_ids: list[int]) -> dict[int, tuple[int, int]]:
    tickets = Ticket.objects.filter(pk__in=ticket_ids).annotate(
        system=Count("messages", filter=Q(messages__kind=Message.Kind.SYSTEM), distinct=True),
        emails=Count(
            "outbound_emails", filter=Q(outbound_emails__purpose="acknowledgement"), distinct=True
        ),
    )
    return {t.pk: (t.system, t.emails) for t in tickets}


def test_redis_stopped_while_customers_open_tickets(tmp_path, sink, stack_of):
    support_structure_setup()
    customers = [factories.make_customer(username=f"customer{i}") for i in range(3)]
    agent = factories.make_agent(username="giulia", teams=(Team.objects.get(slug="support"),))
    tokens = [Token.objects.create(user=c).key for c in customers]
    agent_token = Token.objects.create(user=agent).key
    portal = Client()
    portal.force_login(customers[1])
    session = portal.cookies["sessionid"].value

    server = RedisServer(tmp_path / "redis").start()
    stack = stack_of(server.url, sink.url)
    web, worker = stack.web(), stack.worker()
    stack.beat()
    wait_for(lambda: web_ready(web), "the web process answers")
    wait_for(lambda: worker_ready(worker), "the worker is ready")
    http = Http(web.base)

    opened: list[int] = []
    answers: list[int] = []

    def open_one(i: int) -> None:
        kind = i % 3
        if kind == 0:
            status, body = http.api(
                tokens[0],
                "/api/v1/tickets/",
                {"subject": f"API {i}", "body": "My VPS is down.", "category": "vps"},
            )
            ticket_id = body.get("id")
        elif kind == 1:
            status, ticket_id = http.portal_open(session, f"Portal {i}")
        else:
            status, body = http.api(
                tokens[2], "/api/v1/chats/", {"subject": f"Chat {i}", "body": "Hello?"}
            )
            ticket_id = body.get("ticket")
        answers.append(status)
        if ticket_id:
            opened.append(ticket_id)

    # Before the outage: a chat whose customer keeps its window open.
    status, body = http.api(tokens[2], "/api/v1/chats/", {"body": "Is anyone there?"})
    assert status == 201, body
    chat_id = body["ticket"]
    opened.append(chat_id)
    chat = ChatClient(web.base, chat_id, tokens[2])
    chat.start()
    wait_for(lambda: chat.opened, "the chat window is connected")
    for i in range(3):
        open_one(i)

    # The outage.
    server.stop()
    down_at = time.monotonic()
    health = []
    i = 3
    while time.monotonic() - down_at < OUTAGE_SECONDS:
        open_one(i)
        i += 1
        if i % 3 == 0:
            health.append(http.healthz())
            # An agent answers the chat meanwhile: stored, but no socket can hear of it.
            status, _ = http.api(
                agent_token,
                f"/api/v1/tickets/{chat_id}/messages/",
                {"body": f"Agent here ({i})", "client_id": str(uuid.uuid4())},
            )
            answers.append(status)
        time.sleep(0.2)
    opened_during = len(opened) - 4
    restarting_at = time.monotonic()
    server.start()
    up_at = time.monotonic()

    # After: every request acknowledged, the chat window back and complete.
    tickets = ticket_ids_of(customers)
    wait_for(
        lambda: (
            Clock.objects.filter(
                ticket_id__in=tickets, metric=Metric.ACKNOWLEDGEMENT, met_at__isnull=False
            ).count()
            == len(tickets)
        ),
        "every request is acknowledged",
        RECOVERY_SECONDS,
        every=0.5,
    )
    by_email = Ticket.objects.filter(pk__in=tickets).exclude(channel=Channel.CHAT).count()
    wait_for(
        lambda: (
            sink.total() >= by_email
            and not OutboundEmail.objects.filter(
                ticket_id__in=tickets, state=OutboundEmail.State.PENDING
            ).exists()
        ),
        "every acknowledgement email is sent",
        RECOVERY_SECONDS,
        every=0.5,
    )
    thread = list(
        Message.objects.filter(ticket_id=chat_id, kind__in=message_kinds_visible_to(customers[2]))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    wait_for(lambda: set(chat.received) >= set(thread), "the chat window has the whole thread", 60)
    chat.stopping.set()
    chat.join(10)

    each = acknowledged_each(tickets)
    sent_emails = OutboundEmail.objects.filter(ticket_id__in=tickets)
    counts_line(
        test="redis_outage",
        outage_s=OUTAGE_SECONDS,
        sent=len(answers),
        opened_during_outage=opened_during,
        stored=len(tickets),
        acknowledged=sum(1 for s, _e in each.values() if s == 1),
        emailed=sink.total(),
        chat_closed_by_server=len(chat.closed),
        chat_reconnects=len(chat.opened) - 1,
        duplicates=sink.duplicates()
        + sum(s - 1 for s, _e in each.values() if s > 1)
        + len(chat.received)
        - len(set(chat.received)),
    )

    assert set(answers) <= {201, 302}, answers
    assert sorted(opened) == sorted(tickets), "each answered request is a ticket, none other"
    assert opened_during > 0
    assert health and all(
        status == 503 and body["failed"] == ["redis"] for status, body in health
    ), health
    expected = {
        pk: (1, 0 if channel == Channel.CHAT else 1)
        for pk, channel in Ticket.objects.filter(pk__in=tickets).values_list("pk", "channel")
    }
    assert each == expected, "one acknowledgement each, by email where it is not a chat"
    assert sink.duplicates() == 0
    assert sink.total() == sent_emails.filter(state=OutboundEmail.State.SENT).count()
    assert set(sent_emails.values_list("state", flat=True)) == {OutboundEmail.State.SENT}
    # The window was told while Redis was down, came back after, and lost nothing.
    assert any(down_at < at < up_at for at, _code in chat.closed), chat.closed
    # Once Redis answers again (it may before `start` returns), not while it was down.
    assert any(at > restarting_at for at in chat.opened), "the chat window reconnected"
    assert sorted(chat.received) == thread, "every message of the chat once, in the window"
