"""The `conversation.message` event carries its message rendered once, after COMMIT: sockets
send it without a query and drop the kinds their user may not read."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from live import frames
from tests.chat.conftest import joined, until_presence
from tickets import notifications
from tickets.models import Channel
from tickets.notifications import conversation_group
from tickets.rendering import message_rendered
from usecases.tickets import ticket_reply

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


@pytest.fixture
def frame_loads(monkeypatch):
    """How many frames the sockets loaded from the database, one query each."""
    calls = []
    load = frames.message_frame_for

    def counted(*args):
        calls.append(args)
        return load(*args)

    monkeypatch.setattr(frames, "message_frame_for", counted)
    return calls


async def listener(ticket_id) -> str:
    """A channel of the conversation's group, to read the events themselves."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(conversation_group(ticket_id), channel)
    return channel


async def message_event(channel: str) -> dict:
    while True:
        event = await get_channel_layer().receive(channel)
        if event["type"] == "conversation.message":
            return event


async def reply(ticket, author, body, **extra):
    message, _created = await db(ticket_reply)(
        ticket_id=ticket.pk,
        author=author,
        body=body,
        channel=Channel.WEB,
        now=timezone.now(),
        **extra,
    )
    return message


def test_every_socket_sends_the_rendered_message_without_loading_it(
    chat_a, customer_a, agent, frame_loads
):
    async def scenario():
        events = await listener(chat_a.pk)
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        message = await reply(chat_a, agent, "Rebooted from the rescue system")
        event = await message_event(events)
        # The same shape the database gives every reader (attachment URLs as paths).
        loaded = await db(frames.message_frame_for)(customer_a, chat_a.pk, message.pk)
        frame_loads.clear()
        assert event["message"] == loaded["message"]
        assert event["kind"] == "agent"
        assert (await customer.frame_of("message")) == loaded
        assert (await staff.frame_of("message")) == loaded
        await customer.close()
        await staff.close()

    async_to_sync(scenario)()
    assert frame_loads == []


def test_a_customer_socket_drops_an_internal_note_the_event_carries(
    chat_a, customer_a, agent, frame_loads
):
    async def scenario():
        events = await listener(chat_a.pk)
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        await reply(chat_a, agent, "Customer owes two invoices", internal=True)
        event = await message_event(events)
        assert event["kind"] == "internal"
        assert event["message"]["body"] == "Customer owes two invoices"
        note = await staff.frame_of("message")
        assert note["message"] == event["message"]
        assert await customer.nothing("message")
        await customer.close()
        await staff.close()

    async_to_sync(scenario)()
    assert frame_loads == []


def test_an_event_without_the_message_is_loaded_with_its_readers_rights(
    chat_a, customer_a, agent, frame_loads, monkeypatch
):
    """Events of the previous release, during a rolling deploy, carry only the id."""

    def unannounced(**fields):
        with monkeypatch.context() as patched:
            patched.setattr(notifications, "broadcast_message_on_commit", lambda *a, **k: None)
            return ticket_reply(
                ticket_id=chat_a.pk,
                author=agent,
                channel=Channel.WEB,
                now=timezone.now(),
                **fields,
            )[0]

    async def scenario():
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        # Stored after the replay, announced only by the old events below.
        public = await db(unannounced)(body="Public")
        note = await db(unannounced)(body="Internal", internal=True)
        layer = get_channel_layer()
        for message in (public, note):
            old = {"type": "conversation.message", "message_id": message.pk, "kind": message.kind}
            await layer.group_send(conversation_group(chat_a.pk), old)
        frame = await customer.frame_of("message")
        assert frame["message"]["body"] == "Public"
        assert await customer.nothing("message")
        await customer.close()

    async_to_sync(scenario)()
    assert len(frame_loads) == 1  # the note was dropped on its kind, unread


def test_rendering_for_the_broadcast_is_one_query_without_attachments(
    chat_a, agent, django_assert_num_queries
):
    plain, _ = ticket_reply(
        ticket_id=chat_a.pk, author=agent, body="Plain", channel=Channel.WEB, now=timezone.now()
    )
    with_file, _ = ticket_reply(
        ticket_id=chat_a.pk,
        author=agent,
        body="With a file",
        channel=Channel.WEB,
        now=timezone.now(),
        attachments=[SimpleUploadedFile("boot.log", b"kernel panic\n")],
    )
    with django_assert_num_queries(1):
        assert message_rendered(plain.pk)["attachments"] == []
    with django_assert_num_queries(2):
        rendered = message_rendered(with_file.pk)
    assert rendered["attachments"][0]["url"].startswith("/")
    assert rendered["author"]["role"] == "agent"


def test_a_broadcast_overtaken_by_a_later_one_is_filled_in_from_the_database(
    chat_a, customer_a, agent, monkeypatch
):
    """Each server publishes after its own COMMIT, so a later message's broadcast may arrive
    first: the socket sends what lies between from the database, in order, and drops the late
    broadcast, so that a client reconnecting with `after=` the last id has missed nothing."""

    def overtaken():
        with monkeypatch.context() as patched:  # its broadcast is still on its way
            patched.setattr(notifications, "broadcast_message_on_commit", lambda *a, **k: None)
            return ticket_reply(
                ticket_id=chat_a.pk,
                author=agent,
                body="First",
                channel=Channel.CHAT,
                now=timezone.now(),
            )[0]

    async def scenario():
        events = await listener(chat_a.pk)
        customer = await joined(chat_a.pk, customer_a)
        await until_presence(customer)
        first = await db(overtaken)()
        await reply(chat_a, agent, "Second")
        late = await message_event(events)
        received = [
            (await customer.frame_of("message"))["message"]["body"],
            (await customer.frame_of("message"))["message"]["body"],
        ]
        assert late["previous"] == first.pk
        # The first message's own broadcast arrives at last: already sent.
        late_first = {"type": "conversation.message", "message_id": first.pk, "kind": "agent"}
        await get_channel_layer().group_send(conversation_group(chat_a.pk), late_first)
        assert await customer.nothing("message")
        await customer.close()
        return received

    assert async_to_sync(scenario)() == ["First", "Second"]
