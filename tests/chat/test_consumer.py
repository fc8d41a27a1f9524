"""The conversation socket (API.md, "Live chat") through the product's ASGI application, with
Channels' WebsocketCommunicator, PostgreSQL and the Redis PubSub layer."""

import uuid
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import ReadMark
from sla.models import Clock
from sla.policy import Metric
from sla.services.acknowledgement import acknowledgement_send
from tests.chat.conftest import joined, open_socket, session_cookie, token_of, until_presence
from tickets.models import Channel, Message, Status
from usecases.tickets import ticket_assign, ticket_confirm, ticket_reply, ticket_resolve

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORIGIN = "http://testserver"


def run(scenario):
    async_to_sync(scenario)()


db = database_sync_to_async


# --- Who may connect -------------------------------------------------------------------------


def test_the_customer_connects_to_their_chat_and_gets_the_thread_then_presence(chat_a, customer_a):
    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        frames = await until_presence(socket)
        assert [f["type"] for f in frames] == ["message", "presence"]
        assert frames[0]["message"]["body"] == "Hello, is anyone there?"
        assert frames[0]["message"]["ticket"] == chat_a.pk
        assert frames[1] == {"type": "presence", "agents_online": 0}
        await socket.close()

    run(scenario)


def test_an_agent_of_the_team_connects(chat_a, agent):
    async def scenario():
        socket = await joined(chat_a.pk, agent)
        frames = await until_presence(socket)
        assert frames[-1] == {"type": "presence", "agents_online": 1}
        await socket.close()

    run(scenario)


def test_who_may_not_see_the_ticket_is_closed_with_4403(
    chat_a, customer_a, customer_b, other_agent
):
    async def scenario():
        # Customer B on A's chat, an agent of another team, an unknown or malformed id.
        for ticket_id, user in (
            (chat_a.pk, customer_b),
            (chat_a.pk, other_agent),
            (999999999, customer_a),
            ("abc", customer_a),
            ("99999999999999999999999", customer_a),
        ):
            socket = await joined(ticket_id, user)
            assert await socket.close_code() == 4403, (ticket_id, user)
        # Anonymous, or a token that is nobody's.
        for token in (None, "not-a-token"):
            socket, _accepted = await open_socket(chat_a.pk, token=token)
            assert await socket.close_code() == 4403

    run(scenario)


def test_a_session_counts_only_from_a_page_of_this_site(chat_a, customer_a):
    cookie = session_cookie(customer_a)

    async def scenario():
        socket, _accepted = await open_socket(chat_a.pk, cookie=cookie, origin=ORIGIN)
        assert (await socket.frame())["type"] == "message"
        await socket.close()
        # Another site's page, or no Origin at all: the cookie is not enough.
        for origin in ("http://evil.example", "null", None):
            socket, _accepted = await open_socket(chat_a.pk, cookie=cookie, origin=origin)
            assert await socket.close_code() == 4403

    run(scenario)


def test_a_token_from_a_foreign_origin_is_refused(chat_a, customer_a):
    token = token_of(customer_a)

    async def scenario():
        socket, _accepted = await open_socket(chat_a.pk, token=token, origin="https://evil.example")
        assert await socket.close_code() == 4403

    run(scenario)


def test_connections_per_user_are_limited(settings, chat_a, customer_a):
    settings.CHAT_MAX_CONNECTIONS_PER_USER = 2

    async def scenario():
        first = await joined(chat_a.pk, customer_a)
        second = await joined(chat_a.pk, customer_a)
        # Counted once their replay starts: sockets still connecting race for the last slot.
        await first.frame_of("message")
        await second.frame_of("message")
        third = await joined(chat_a.pk, customer_a)
        assert (await third.frame()) == {
            "type": "error",
            "code": "too_many_connections",
            "detail": "You have too many chat windows open.",
        }
        assert await third.close_code() == 4429
        await first.close()
        fourth = await joined(chat_a.pk, customer_a)
        assert (await fourth.frame())["type"] == "message"
        await second.close()
        await fourth.close()

    run(scenario)


# --- Messages --------------------------------------------------------------------------------


def test_a_message_is_stored_then_broadcast_to_every_socket(chat_a, customer_a, agent):
    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        client_id = await customer.say("  My VPS is unreachable  ")
        frame = await customer.frame_of("message")
        # Sent only after the message is stored: it is in the database when the frame comes.
        stored = await db(Message.objects.get)(pk=frame["message"]["id"])
        assert stored.body == "My VPS is unreachable"
        assert stored.channel == Channel.CHAT
        assert stored.client_id == client_id
        assert frame["client_id"] == client_id
        assert frame["message"]["author"]["role"] == "customer"
        assert (await staff.frame_of("message")) == frame

        await staff.say("Looking at it now")
        reply = await customer.frame_of("message")
        assert reply["message"]["kind"] == "agent"
        assert reply["message"]["author"] == {"id": agent.pk, "name": "giulia", "role": "agent"}
        await customer.close()
        await staff.close()

    run(scenario)
    chat_a.refresh_from_db()
    assert chat_a.status == Status.OPEN


def test_the_writers_own_frame_is_the_one_every_other_socket_reads(chat_a, customer_a, structure):
    """The writer's copy is rendered from memory, the others' from the database: the same."""
    from tests import factories

    manager = factories.make_agent(username="marta", manager=True)

    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, manager)
        await until_presence(staff)
        await staff.say("A manager here: we are on it")
        own = await staff.frame_of("message")
        assert own["message"]["author"]["role"] == "manager"
        assert own["message"]["attachments"] == []
        assert (await customer.frame_of("message")) == own
        await customer.close()
        await staff.close()

    run(scenario)


def test_a_message_written_elsewhere_reaches_the_socket(chat_a, customer_a, agent):
    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await db(ticket_reply)(
            ticket_id=chat_a.pk,
            author=agent,
            body="Answered from the admin",
            channel=Channel.WEB,
            now=timezone.now(),
        )
        frame = await socket.frame_of("message")
        assert frame["message"]["body"] == "Answered from the admin"
        assert "client_id" not in frame
        await socket.close()

    run(scenario)


def test_a_message_with_files_reaches_the_socket_with_them(chat_a, customer_a, agent):
    from django.core.files.uploadedfile import SimpleUploadedFile

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await db(ticket_reply)(
            ticket_id=chat_a.pk,
            author=agent,
            body="The boot log, from the admin",
            channel=Channel.WEB,
            now=timezone.now(),
            attachments=[SimpleUploadedFile("boot.log", b"kernel panic\n")],
        )
        frame = await socket.frame_of("message")
        assert [a["filename"] for a in frame["message"]["attachments"]] == ["boot.log"]
        await socket.close()

    run(scenario)


def test_the_replay_starts_after_the_given_message(chat_a, customer_a, agent):
    first = chat_a.messages.get()
    for body in ("two", "three"):
        ticket_reply(
            ticket_id=chat_a.pk, author=agent, body=body, channel=Channel.CHAT, now=timezone.now()
        )
    ticket_reply(
        ticket_id=chat_a.pk,
        author=agent,
        body="note",
        channel=Channel.CHAT,
        now=timezone.now(),
        internal=True,
    )

    async def scenario():
        socket = await joined(chat_a.pk, customer_a, after=first.pk)
        frames = await until_presence(socket)
        assert [f["message"]["body"] for f in frames[:-1]] == ["two", "three"]
        await socket.close()
        socket = await joined(chat_a.pk, agent, after=first.pk)
        frames = await until_presence(socket)
        assert [f["message"]["body"] for f in frames[:-1]] == ["two", "three", "note"]
        await socket.close()

    run(scenario)


def test_a_long_thread_is_replayed_newest_page_first_and_older_pages_on_demand(chat_a, customer_a):
    """A thread of 120 messages: the newest 50, then each older page when asked, each message
    once and in order; a long thread is never sent whole."""
    now = timezone.now()
    Message.objects.bulk_create(
        Message(
            ticket=chat_a,
            kind=Message.Kind.CUSTOMER,
            channel=Channel.CHAT,
            author=customer_a,
            body=f"m{i}",
            created_at=now,
        )
        for i in range(119)
    )
    every_id = list(chat_a.messages.order_by("id").values_list("id", flat=True))

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        frames = await until_presence(socket)
        newest = [f["message"]["id"] for f in frames if f["type"] == "message"]
        assert newest == every_id[-50:]
        older = next(f for f in frames if f["type"] == "older")
        assert older == {"type": "older", "before": newest[0], "after": 0}
        pages = []
        before = older["before"]
        while before:
            await socket.send({"type": "history", "before": before})
            page = await socket.frame_of("history")
            pages.insert(0, [m["id"] for m in page["messages"]])
            before = page.get("older")
        assert [len(page) for page in pages] == [20, 50]
        assert pages[0] + pages[1] + newest == every_id
        await socket.close()

    run(scenario)


def test_a_socket_away_for_long_gets_the_newest_page_and_is_told_of_the_gap(
    chat_a, customer_a, agent
):
    first = chat_a.messages.get()
    for n in range(60):
        ticket_reply(
            ticket_id=chat_a.pk,
            author=agent,
            body=f"update {n}",
            channel=Channel.CHAT,
            now=timezone.now(),
        )

    async def scenario():
        socket = await joined(chat_a.pk, customer_a, after=first.pk)
        frames = await until_presence(socket)
        bodies = [f["message"]["body"] for f in frames if f["type"] == "message"]
        assert bodies == [f"update {n}" for n in range(10, 60)]
        older = next(f for f in frames if f["type"] == "older")
        assert older["after"] == first.pk
        await socket.send({"type": "history", "before": older["before"], "after": first.pk})
        page = await socket.frame_of("history")
        assert [m["body"] for m in page["messages"]] == [f"update {n}" for n in range(10)]
        assert "older" not in page
        await socket.close()

    run(scenario)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history"},
        {"type": "history", "before": "12"},
        {"type": "history", "before": 0},
        {"type": "history", "before": 5, "after": 5},
        {"type": "history", "before": 2**63},
    ],
)
def test_a_bad_history_frame_gets_an_error(chat_a, customer_a, frame):
    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await socket.send(frame)
        error = await socket.frame_of("error")
        assert error["code"] == "invalid"
        await socket.close()

    run(scenario)


def test_a_bad_after_gets_an_error_and_the_newest_page(chat_a, customer_a):
    async def scenario():
        socket, _accepted = await open_socket(
            chat_a.pk, token=await db(token_of)(customer_a), after="-1"
        )
        frames = await until_presence(socket)
        assert frames[0]["type"] == "error"
        assert frames[0]["code"] == "invalid_after"
        assert frames[1]["message"]["body"] == "Hello, is anyone there?"
        await socket.close()

    run(scenario)


def test_a_resent_client_id_is_stored_once_and_acknowledged_to_the_sender(
    chat_a, customer_a, agent
):
    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        client_id = str(uuid.uuid4())
        await customer.say("once", client_id)
        first = await customer.frame_of("message")
        await customer.say("once", client_id.upper())
        again = await customer.frame_of("message")
        assert again == first
        assert (await staff.frame_of("message")) == first
        assert await staff.nothing("message")
        await customer.close()
        await staff.close()

    run(scenario)
    assert chat_a.messages.filter(body="once").count() == 1


def test_internal_notes_reach_only_staff_sockets(chat_a, customer_a, agent):
    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        await staff.say("Customer on the old plan", internal=True)
        note = await staff.frame_of("message")
        assert note["message"]["kind"] == "internal"
        # A customer's `internal` is ignored: their message is public.
        await customer.say("Any news?", internal=True)
        frame = await customer.frame_of("message")
        assert frame["message"]["body"] == "Any news?"
        assert frame["message"]["kind"] == "customer"
        assert (await staff.frame_of("message"))["message"]["body"] == "Any news?"
        assert await customer.nothing("message")
        await customer.close()
        await staff.close()

    run(scenario)


def test_a_closed_ticket_refuses_a_message_with_an_error_frame(chat_a, customer_a, agent):
    ticket_resolve(ticket_id=chat_a.pk, actor=agent, summary="Rebooted", now=timezone.now())
    ticket_confirm(ticket_id=chat_a.pk, customer=customer_a, now=timezone.now())

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await socket.say("Hello?")
        frame = await socket.frame()
        assert frame["type"] == "error"
        assert frame["code"] == "ticket_closed"
        await socket.close()

    run(scenario)


BAD_FRAMES = [
    ("not json", "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ({"type": "shout"}, "unknown_type"),
    ({"body": "no type"}, "unknown_type"),
    ({"type": "message", "body": "hi"}, "invalid"),
    ({"type": "message", "body": "hi", "client_id": "not-a-uuid"}, "invalid"),
    ({"type": "message", "body": "   ", "client_id": str(uuid.uuid4())}, "invalid"),
    ({"type": "message", "body": 42, "client_id": str(uuid.uuid4())}, "invalid"),
    ({"type": "message", "body": "hi", "client_id": str(uuid.uuid4()), "internal": 1}, "invalid"),
    ({"type": "message", "body": "x" * 4001, "client_id": str(uuid.uuid4())}, "too_large"),
    ("x" * 30_000, "too_large"),
    ({"type": "read", "message": "7"}, "invalid"),
    ({"type": "read", "message": 10**30}, "invalid"),
    ({"type": "read", "message": 999999999}, "invalid"),
]


def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(settings, chat_a, customer_a):
    settings.CHAT_RATE_BURST = 100

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        for frame, code in BAD_FRAMES:
            await socket.send(frame)
            error = await socket.frame()
            assert (error["type"], error["code"]) == ("error", code), frame
            assert error["detail"]
        await socket.communicator.send_to(bytes_data=b"\x00")
        assert (await socket.frame())["code"] == "bad_frame"
        await socket.say("x" * 4000)
        assert (await socket.frame())["message"]["body"] == "x" * 4000
        await socket.close()

    run(scenario)
    assert chat_a.messages.count() == 2


def test_messages_beyond_the_rate_are_refused_and_the_socket_stays_open(
    settings, chat_a, customer_a
):
    settings.CHAT_RATE_BURST = 3
    settings.CHAT_RATE_PER_SECOND = 0.01

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        for i in range(5):
            await socket.say(f"flood {i}")
        frames = [await socket.frame() for _ in range(5)]
        assert sorted(f["type"] for f in frames) == [
            "error",
            "error",
            "message",
            "message",
            "message",
        ]
        assert {f["code"] for f in frames if f["type"] == "error"} == {"rate_limited"}
        await socket.close()

    run(scenario)
    assert chat_a.messages.filter(body__startswith="flood").count() == 3


# --- Typing, read receipts, presence, ticket changes -----------------------------------------


def test_typing_reaches_the_others_at_most_once_per_interval(chat_a, customer_a, agent):
    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        for _ in range(3):
            await customer.send({"type": "typing"})
        frame = await staff.frame_of("typing")
        assert frame == {
            "type": "typing",
            "user": {"id": customer_a.pk, "name": "Alice Rossi", "role": "customer"},
        }
        assert await staff.nothing("typing")
        assert await customer.nothing("typing")
        await customer.close()
        await staff.close()

    run(scenario)


def test_a_read_receipt_is_stored_and_shown_to_the_others(chat_a, customer_a, agent):
    first = chat_a.messages.get()
    reply, _created = ticket_reply(
        ticket_id=chat_a.pk, author=agent, body="Hi!", channel=Channel.CHAT, now=timezone.now()
    )
    note, _created = ticket_reply(
        ticket_id=chat_a.pk,
        author=agent,
        body="note",
        channel=Channel.CHAT,
        now=timezone.now(),
        internal=True,
    )

    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        await customer.send({"type": "read", "message": reply.pk})
        assert (await staff.frame_of("read")) == {
            "type": "read",
            "user": {"id": customer_a.pk, "name": "Alice Rossi", "role": "customer"},
            "message": reply.pk,
        }
        # Going back does not move the mark; a note the customer cannot see is no message.
        await customer.send({"type": "read", "message": first.pk})
        await customer.send({"type": "read", "message": note.pk})
        assert (await customer.frame_of("error"))["code"] == "invalid"
        # The agent read the note: the customer is not told about a message they cannot see.
        await staff.send({"type": "read", "message": note.pk})
        assert await customer.nothing("read")
        await customer.close()
        await staff.close()

    run(scenario)
    assert ReadMark.objects.get(user=customer_a).message_id == reply.pk
    assert ReadMark.objects.get(user=agent).message_id == note.pk


def test_customers_see_how_many_agents_of_the_team_are_online(
    chat_a, customer_a, agent, other_agent, structure
):
    from tests import factories

    second = factories.make_agent(teams=(structure["support"],))

    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        assert (await until_presence(customer))[-1]["agents_online"] == 0
        staff = await joined(chat_a.pk, agent)
        assert (await customer.frame_of("presence"))["agents_online"] == 1
        # A second socket of the same agent is the same agent.
        same = await joined(chat_a.pk, agent)
        await until_presence(same)
        other = await joined(chat_a.pk, second)
        assert (await customer.frame_of("presence"))["agents_online"] == 2
        await same.close()
        await other.close()
        assert (await customer.frame_of("presence"))["agents_online"] == 1
        await staff.close()
        assert (await customer.frame_of("presence"))["agents_online"] == 0
        await customer.close()

    run(scenario)


def test_a_ticket_frame_follows_an_assignment(chat_a, customer_a, agent):
    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        await db(ticket_assign)(
            ticket_id=chat_a.pk, actor=agent, assignee_id=None, now=timezone.now()
        )
        frame = await customer.frame_of("ticket")
        assert frame["ticket"]["id"] == chat_a.pk
        assert frame["ticket"]["status"] == "open"
        assert frame["ticket"]["assignee"] == {"id": agent.pk, "name": "giulia"}
        assert frame["ticket"]["team"]["slug"] == "support"
        await customer.close()

    run(scenario)


# --- Acknowledgement -------------------------------------------------------------------------


def test_a_chat_is_acknowledged_within_60_seconds_and_the_socket_gets_it(
    chat_a, customer_a, structure
):
    clock = Clock.objects.get(ticket=chat_a, metric=Metric.ACKNOWLEDGEMENT)
    assert (clock.due_at - clock.started_at).total_seconds() == 60

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await db(acknowledgement_send)(ticket_id=chat_a.pk, now=timezone.now())
        frame = await socket.frame_of("message")
        assert frame["message"]["kind"] == "system"
        assert frame["message"]["author"] is None
        assert chat_a.reference in frame["message"]["body"]
        await socket.close()

    run(scenario)


def test_opening_a_chat_enqueues_the_acknowledgement_at_once(
    customer_a, django_capture_on_commit_callbacks
):
    from helpdesk.celery import app as celery_app
    from tests import factories

    with (
        mock.patch.object(celery_app, "send_task") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        ticket = factories.make_ticket(customer=customer_a, channel=Channel.CHAT)
    enqueue.assert_called_once_with("sla.acknowledgement_send", args=(ticket.pk,), retry=False)
