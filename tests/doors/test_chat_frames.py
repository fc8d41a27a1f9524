"""Chat frames over the limit, spread over two sockets of one person: the door counts the
person, not the socket. Typing is not counted (it is throttled on its own)."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from tests.chat.conftest import (  # noqa: F401
    chat_a,
    chat_database_threads_closed,
    joined,
    private_redis_keys,
    until_presence,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def generous_sockets(settings):
    # Each socket's own bucket would never refuse these few frames.
    settings.CHAT_RATE_BURST = 100
    settings.CHAT_RATE_PER_SECOND = 100.0


async def echoed(socket, body: str) -> dict:
    """The frame of the message `body` once stored, skipping the others' messages."""
    while True:
        frame = await socket.frame_of("message")
        if frame["message"]["body"] == body:
            return frame


def test_frames_over_the_limit_across_two_sockets_are_refused(doors, chat_a, customer_a, agent):  # noqa: F811
    doors(chat_frame={"account": "4/10m"})
    first_message = chat_a.messages.get()

    async def scenario():
        first = await joined(chat_a.pk, customer_a)
        await until_presence(first)
        second = await joined(chat_a.pk, customer_a)
        await until_presence(second)
        for n in range(2):
            await first.say(f"first {n}")
            await echoed(first, f"first {n}")
        await second.say("second 0")
        await echoed(second, "second 0")
        # A read receipt is a frame of the same person.
        await second.send({"type": "read", "message": first_message.pk})

        await second.say("second 1")
        error = await second.frame_of("error")
        await first.say("first 2")
        error_first = await first.frame_of("error")

        assert error["code"] == error_first["code"] == "rate_limited"
        assert "try again in 10 minutes" in error["detail"]
        # Typing still reaches the agent, and the sockets stay open.
        staff = await joined(chat_a.pk, agent)
        await until_presence(staff)
        await first.send({"type": "typing"})
        assert (await staff.frame_of("typing"))["user"]["id"] == customer_a.pk
        await second.send({"type": "message", "body": "x", "client_id": str(uuid.uuid4())})
        assert (await second.frame_of("error"))["code"] == "rate_limited"
        for socket in (first, second, staff):
            await socket.close()

    async_to_sync(scenario)()
    bodies = list(chat_a.messages.order_by("id").values_list("body", flat=True))
    assert bodies == ["Hello, is anyone there?", "first 0", "first 1", "second 0"]
