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
    chat_a, customer_a, agent, frame_loads
):
    """Events of the previous release, during a rolling deploy, carry only the id."""
    public, _ = ticket_reply(
        ticket_id=chat_a.pk, author=agent, body="Public", channel=Channel.WEB, now=timezone.now()
    )
    note, _ = ticket_reply(
        ticket_id=chat_a.pk,
        author=agent,
        body="Internal",
        channel=Channel.WEB,
        now=timezone.now(),
        internal=True,
    )

    async def scenario():
        # Not replayed, so that the events are what brings the messages.
        customer = await joined(chat_a.pk, customer_a, after=note.pk)
        await until_presence(customer)
        layer = get_channel_layer()
        for message in (note, public):
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
