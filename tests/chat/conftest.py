"""People, tickets and sockets for the live chat's tests: real PostgreSQL, real Redis (the
PubSub channel layer of the settings), the product's ASGI application."""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from helpdesk.asgi import application
from live import db as chat_db
from tests import factories
from tickets.models import Channel

TIMEOUT = 5


@pytest.fixture(autouse=True)
def private_redis_keys(settings):
    """Presence and connection counts of one test never count in another."""
    settings.CHAT_REDIS_PREFIX = f"chat-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def chat_database_threads_closed():
    """The sockets' queries run on chat.db's threads, each keeping its connection: closed after
    each test, so that the test database can be dropped."""
    yield
    chat_db.connections_close()


@pytest.fixture
def chat_a(customer_a):
    """Customer A's live chat: a ticket on the chat channel with its first message."""
    return factories.make_ticket(
        customer=customer_a,
        subject="Live chat",
        body="Hello, is anyone there?",
        channel=Channel.CHAT,
    )


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Socket:
    """A WebSocket client of the ASGI application, with what a test asks of it."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.closed_with: int | None = None

    async def frame(self, timeout: float = TIMEOUT) -> dict:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed_with = output.get("code")
            raise AssertionError(f"closed with {self.closed_with}")
        return json.loads(output["text"])

    async def frame_of(self, kind: str, timeout: float = TIMEOUT) -> dict:
        """The next frame of `kind`, skipping others (presence updates, for instance)."""
        while True:
            frame = await self.frame(timeout)
            if frame["type"] == kind:
                return frame

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """The code the server closed with; the client side is then disconnected too."""
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                await self.communicator.disconnect()
                return output.get("code")

    async def nothing(self, kind: str | None = None, timeout: float = 0.5) -> bool:
        """True when no frame (of `kind`) arrives within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            if await self.communicator.receive_nothing(left):
                return True
            frame = await self.frame()
            if kind is None or frame["type"] == kind:
                return False
        return True

    async def send(self, frame) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.communicator.send_to(text_data=text)

    async def say(self, body: str, client_id: str | None = None, **extra) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "body": body, "client_id": client_id, **extra})
        return client_id

    async def close(self) -> None:
        await self.communicator.disconnect(timeout=TIMEOUT)  # the app releases its slot first


async def open_socket(
    ticket_id,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    after: int | None = None,
) -> tuple[Socket, bool]:
    """Connect; returns the socket and whether the server accepted the handshake."""
    path = f"/ws/conversations/{ticket_id}/"
    if after is not None:
        path += f"?after={after}"
    headers = [(b"host", b"testserver")]
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    accepted, _subprotocol = await communicator.connect(TIMEOUT)
    return Socket(communicator), accepted


async def joined(ticket_id, user, **kwargs) -> Socket:
    """An accepted socket of `user` (token auth): the handshake is done, the replay may still
    be on its way."""
    key = await database_sync_to_async(token_of)(user)
    socket, accepted = await open_socket(ticket_id, token=key, **kwargs)
    assert accepted
    return socket


async def until_presence(socket: Socket) -> list[dict]:
    """Frames up to and including the presence frame that ends the connection's preamble."""
    frames = []
    while True:
        frame = await socket.frame()
        frames.append(frame)
        if frame["type"] == "presence":
            return frames
