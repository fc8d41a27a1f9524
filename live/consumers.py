"""`/ws/conversations/<ticket id>/`: the live transport of a ticket's thread (API.md, "Live chat").

Thin: it authenticates (live.auth), asks `access_ticket`, replays from the database, relays
group events and hands every write to a service. Messages are stored by `ticket_reply`, the
same use case as every other channel, and reach sockets only through the broadcast that
follows COMMIT. The broadcast carries the message rendered; each socket sends it only when its
user may read that kind (internal notes reach staff only).
"""

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts.roles import is_staff_role, user_current, user_role
from chat import services
from core.errors import ServiceError
from core.throttle import Refused, door_knock
from live import frames, presence
from live.db import database_sync_to_async
from live.revocation import person_group
from live.watch import layer_watch
from teams.models import TeamMembership
from tickets.models import Channel
from tickets.notifications import conversation_group
from tickets.selectors import access_ticket, message_kinds_visible_to
from usecases.tickets import ticket_reply

log = logging.getLogger(__name__)

# Closed by the server: the ticket is unknown or not the user's to see (API.md), or the user
# already has as many sockets as allowed.
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429
# Events to this socket may have been lost (Redis went away): reconnect and replay with
# `after=` (RFC 6455: service restart). While Redis is away, try again later.
CLOSE_RECONNECT = 1012
CLOSE_TRY_AGAIN = 1013
ID_MAX = 2**63 - 1
# A frame longer than this cannot hold a valid message, even with every character escaped
# (\u0001 is six): refused before it is parsed.
FRAME_ESCAPE_FACTOR = 6
FRAME_OVERHEAD_CHARS = 1024
# Frames of its own messages a socket keeps until their broadcast comes back (at most once:
# one may never come).
WRITTEN_KEPT = 100


def presence_group(team_id: int) -> str:
    return f"presence.{team_id}"


class TokenBucket:
    """`rate` frames a second on average, bursts of `burst`; per connection, in memory."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _after(query_string: bytes) -> int | None:
    """`after=<message id>`; 0 when absent, None when not a message id."""
    values = parse_qs(query_string.decode("latin1")).get("after")
    if not values:
        return 0
    value = values[-1]
    if value.isascii() and value.isdigit() and int(value) <= ID_MAX:
        return int(value)
    return None


@database_sync_to_async
def _access(user, ticket_id) -> tuple[int, int]:
    ticket = access_ticket(user, ticket_id)
    return ticket.pk, ticket.team_id


@database_sync_to_async
def _access_now(user_id: int, ticket_id: int):
    """The person as they are now and the ticket's team, when they may still see it; None
    once deactivated, demoted or moved away from it."""
    user = user_current(user_id)
    if user is None:
        return None
    try:
        return user, access_ticket(user, ticket_id).team_id
    except Http404:
        return None


@database_sync_to_async
def _teams_of(user) -> list[int]:
    return list(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True))


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    ticket_id: int | None = None
    registered = False  # counted among the user's sockets in Redis
    ready = False  # authorised, subscribed and replayed: frames are taken
    heartbeat: asyncio.Task | None = None

    async def dispatch(self, message):
        # Channels' dispatch first closes stale connections of its single database thread, a
        # hop to that thread for every frame in and every event out; this consumer's queries
        # run on live.db's threads, which close their own.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Connection ------------------------------------------------------------------------

    async def connect(self):
        # Accepted first so that a refusal reaches the client as close code 4403, which a
        # browser can read; a handshake refused before acceptance shows only as 1006.
        await self.accept()
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            self.ticket_id, self.team_id = await _access(
                self.user, self.scope["url_route"]["kwargs"]["ticket_id"]
            )
        except Http404:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self._role_take(self.user)
        self.person = await database_sync_to_async(frames.person)(self.user)
        self.watch = layer_watch(self.channel_layer)
        if not await self.watch.join(self.channel_name, self._layer_lost):
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        try:
            await self._open()
        except RedisError:
            log.warning("chat socket refused: Redis is unavailable", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)

    async def _open(self) -> None:
        open_sockets = await presence.connection_open(self.user.pk, self.channel_name)
        if open_sockets > settings.CHAT_MAX_CONNECTIONS_PER_USER:
            await presence.connection_close(self.user.pk, self.channel_name)
            await self.send_json(
                frames.error_frame(
                    "too_many_connections", _("You have too many chat windows open.")
                )
            )
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.registered = True
        self.bucket = TokenBucket(settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST)
        self.typing_at = float("-inf")
        # The newest message id this socket has sent, every earlier one it may read sent too
        # (by the replay, live, or a gap filled from the database).
        self.last = 0
        self.written: dict[int, dict] = {}  # frames of messages this socket stored, by id
        self.agents_online_sent: int | None = None
        # Subscribe before reading the database: a message stored meanwhile is then either in
        # the replay or in the stream (both, at worst: `replayed` drops the second copy).
        await self._join(conversation_group(self.ticket_id))
        await self._join(presence_group(self.team_id))
        # Told when this person is deactivated, demoted or moved between teams.
        await self._join(person_group(self.user.pk))
        self.access_checked_at = time.monotonic()
        self.agent_teams = await _teams_of(self.user) if self.staff else []
        if self.agent_teams:
            await self._presence_announce(
                await presence.agent_online(self.user.pk, self.channel_name, self.agent_teams)
            )
        after = _after(self.scope.get("query_string", b""))
        if after is None:
            await self.send_json(
                frames.error_frame("invalid_after", _("after must be a message id."))
            )
            after = 0
        await self._replay(after)
        await self._presence_send()
        self.heartbeat = asyncio.ensure_future(self._beat())
        self.ready = True

    async def websocket_disconnect(self, message):
        # Channels' own, except that a group left while Redis is away needs no leaving: the
        # subscription went with the connection.
        for group in self.groups:
            with contextlib.suppress(RedisError):
                await self.channel_layer.group_discard(group, self.channel_name)
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        watch = getattr(self, "watch", None)
        if watch is not None:
            watch.leave(self.channel_name)
        if not self.registered:
            return
        try:
            await presence.connection_close(self.user.pk, self.channel_name)
            if getattr(self, "agent_teams", None):
                await self._presence_announce(
                    await presence.agent_offline(self.user.pk, self.channel_name, self.agent_teams)
                )
        except RedisError:
            # Redis is away: this socket's entries expire with their TTL.
            log.warning("chat socket left without updating presence", exc_info=True)

    async def _layer_lost(self) -> None:
        """Events to this socket may have been lost: the client reconnects with `after=`."""
        self.ready = False
        await self.close(code=CLOSE_RECONNECT)

    def _role_take(self, user) -> None:
        self.user = user
        self.role = user_role(user)
        self.staff = is_staff_role(self.role)
        self.kinds = frozenset(message_kinds_visible_to(user))

    async def _still_allowed(self) -> bool:
        """Check the person's access to the ticket as it is now; close the socket (4403) when
        it is gone. What they may read (internal notes) follows a change of role."""
        self.access_checked_at = time.monotonic()
        found = await _access_now(self.user.pk, self.ticket_id)
        if found is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        self._role_take(found[0])
        return True

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)  # left by the base class on disconnect

    async def _leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
        self.groups.remove(group)

    async def _replay(self, after: int) -> None:
        """What came after `after`, the newest page of it: a long thread, or a socket that was
        away for long, is not sent whole; what is older is announced and sent on demand."""
        self.last = after
        await self._send_between(after=after, before=None)

    async def _send_between(self, *, after: int, before: int | None) -> None:
        """The newest page of what the person may read between the two ids, from the database;
        older ones are announced, sent on demand."""
        page, older = await database_sync_to_async(frames.replay_page)(
            self.user, self.ticket_id, after=after, before=before
        )
        for frame in page:
            self.last = max(self.last, frame["message"]["id"])
            await self.send_json(frame)
        if older is not None:
            await self.send_json(frames.older_frame(older, after))

    async def _beat(self) -> None:
        """Keep this socket's Redis entries alive and the agents-online count current."""
        interval = settings.CHAT_PRESENCE_TTL_SECONDS / 3
        while True:
            # Sockets opened together would otherwise beat together, all at once, forever.
            await asyncio.sleep(interval * random.uniform(0.5, 1))
            try:
                await presence.connection_open(self.user.pk, self.channel_name)
                if self.agent_teams:
                    await self._presence_announce(
                        await presence.agent_online(
                            self.user.pk, self.channel_name, self.agent_teams
                        )
                    )
                await self._presence_send()
                since_checked = time.monotonic() - self.access_checked_at
                recheck = since_checked >= settings.CHAT_ACCESS_RECHECK_SECONDS
                if recheck and not await self._still_allowed():
                    return
            except RedisError:
                # Presence is a hint; the next beat tries again, the entries last three beats.
                log.warning("presence beat failed", exc_info=True)

    async def _presence_send(self) -> None:
        count = await presence.agents_online(self.team_id)
        if count != self.agents_online_sent:
            self.agents_online_sent = count
            await self.send_json(frames.presence_frame(count))

    async def _presence_announce(self, team_ids: list[int]) -> None:
        """Tell the sockets of these teams how many agents are online now: only where this
        agent came or went, since every socket of the team hears each announcement."""
        for team_id in team_ids:
            count = await presence.agents_online(team_id)
            await self.channel_layer.group_send(
                presence_group(team_id),
                {"type": "chat.presence", "team_id": team_id, "agents_online": count},
            )

    # --- Client -> server ------------------------------------------------------------------

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if not self.ready:
            return
        if text_data is None:
            return await self._error("bad_frame", _("Frames are JSON text."))
        limit = settings.CHAT_MAX_MESSAGE_CHARS * FRAME_ESCAPE_FACTOR + FRAME_OVERHEAD_CHARS
        if len(text_data) > limit:
            return await self._error("too_large", _("This frame is too large."))
        try:
            content = json.loads(text_data)
        except ValueError:
            return await self._error("bad_frame", _("Frames are JSON objects."))
        if not isinstance(content, dict):
            return await self._error("bad_frame", _("Frames are JSON objects."))
        handler = {
            "message": self._message,
            "typing": self._typing,
            "read": self._read,
            "history": self._history,
        }.get(content.get("type"))
        if handler is None:
            return await self._error("unknown_type", _("Unknown frame type."))
        # Typing is throttled on its own and costs nothing; everything else draws on the rate.
        if handler != self._typing and not self.bucket.take():
            return await self._error("rate_limited", _("Too many messages; slow down."))
        # ...and on the person's "chat_frame" door, across all their sockets and servers.
        if handler != self._typing:
            try:
                await sync_to_async(door_knock, thread_sensitive=False)(
                    "chat_frame", {"account": str(self.user.pk)}
                )
            except Refused as refused:
                return await self._error("rate_limited", refused.detail)
        await handler(content)

    async def access_changed(self, event):
        """The person or their teams were saved (live.revocation): check access again."""
        if self.ready:
            await self._still_allowed()

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json(frames.error_frame(code, detail))

    async def _message(self, content: dict) -> None:
        body, client_id = content.get("body"), content.get("client_id")
        if not isinstance(body, str) or not body.strip():
            return await self._error("invalid", _("The message is empty."))
        if len(body) > settings.CHAT_MAX_MESSAGE_CHARS:
            return await self._error(
                "too_large",
                _("A chat message holds at most %(n)s characters.")
                % {"n": settings.CHAT_MAX_MESSAGE_CHARS},
            )
        try:
            client_id = str(uuid.UUID(client_id))
        except (TypeError, ValueError, AttributeError):
            return await self._error("invalid", _("client_id must be a UUID."))
        internal = content.get("internal", False)
        if not isinstance(internal, bool):
            return await self._error("invalid", _("internal must be true or false."))
        try:
            created, frame = await database_sync_to_async(self._store)(body, client_id, internal)
        except Http404:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        except ServiceError as exc:
            return await self._error(exc.code, exc.detail)
        if not created:
            # A resend: stored once already; the sender still learns which message it is.
            if frame is not None:
                await self.send_json(frame)
            return
        # This socket's copy of the broadcast then needs no query.
        self.written[frame["message"]["id"]] = frame
        if len(self.written) > WRITTEN_KEPT:
            del self.written[next(iter(self.written))]

    def _store(self, body: str, client_id: str, internal: bool) -> tuple[bool, dict | None]:
        """Store the message (once per client_id) as the person is now; whether it is new, and
        its frame. Http404 when they may no longer write here (deactivated, moved away)."""
        user = user_current(self.user.pk)
        if user is None:
            raise Http404("No such user.")
        self._role_take(user)
        message, created = ticket_reply(
            ticket_id=self.ticket_id,
            author=self.user,
            body=body,
            channel=Channel.CHAT,
            now=timezone.now(),
            internal=internal,
            client_id=client_id,
        )
        if created:
            return True, frames.written_frame(message)
        return False, frames.message_frame_for(self.user, self.ticket_id, message.pk)

    async def _history(self, content: dict) -> None:
        """A page of older messages: the newest ones before `before` (and after `after`)."""
        before, after = content.get("before"), content.get("after", 0)
        if type(before) is not int or not 0 < before <= ID_MAX:
            return await self._error("invalid", _("before must be a message id."))
        if type(after) is not int or not 0 <= after < before:
            return await self._error(
                "invalid", _("after must be a message id smaller than before.")
            )
        if not await self._still_allowed():
            return
        page, older = await database_sync_to_async(frames.replay_page)(
            self.user, self.ticket_id, after=after, before=before
        )
        await self.send_json(frames.history_frame(page, older))

    async def _typing(self, content: dict) -> None:
        now = time.monotonic()
        if now - self.typing_at < settings.CHAT_TYPING_INTERVAL_SECONDS:
            return
        self.typing_at = now
        if not await self._still_allowed():
            return
        await self.channel_layer.group_send(
            conversation_group(self.ticket_id),
            {"type": "chat.typing", "user": self.person, "sender": self.channel_name},
        )

    async def _read(self, content: dict) -> None:
        message_id = content.get("message")
        if type(message_id) is not int or not 0 < message_id <= ID_MAX:
            return await self._error("invalid", _("message must be a message id."))
        if not await self._still_allowed():
            return
        kind = await database_sync_to_async(services.read_mark)(
            user=self.user, ticket_id=self.ticket_id, message_id=message_id, now=timezone.now()
        )
        if kind is None:
            return await self._error("invalid", _("No such message in this conversation."))
        await self.channel_layer.group_send(
            conversation_group(self.ticket_id),
            {
                "type": "chat.read",
                "user": self.person,
                "message_id": message_id,
                "kind": kind,
                "sender": self.channel_name,
            },
        )

    # --- Group events -> client ------------------------------------------------------------

    async def conversation_message(self, event):
        message_id = event["message_id"]
        if message_id <= self.last:  # sent already: by the replay or with a gap
            return
        previous = event.get("previous")
        gap = previous is not None and previous > self.last
        if event.get("kind") not in self.kinds:
            if not gap:
                self.last = message_id  # nothing this person may read was skipped
            return
        if gap:
            # A broadcast of this conversation was overtaken by this one (each server publishes
            # after its own COMMIT): what lies between comes from the database, in order, so
            # that a client reconnecting with `after=` this id has missed nothing.
            await self._send_between(after=self.last, before=message_id)
        self.last = message_id
        frame = self.written.pop(message_id, None)
        if frame is None and "message" in event:
            frame = frames.broadcast_frame(event)
        elif frame is None:  # an event from a server of the previous release carries only the id
            frame = await database_sync_to_async(frames.message_frame_for)(
                self.user, self.ticket_id, message_id
            )
        if frame is not None:
            await self.send_json(frame)

    async def conversation_ticket(self, event):
        try:
            frame, team_id = await database_sync_to_async(frames.ticket_frame)(
                self.user, self.ticket_id
            )
        except Http404:  # escalated away from this agent's teams, for instance
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send_json(frame)
        if team_id != self.team_id:
            await self._leave(presence_group(self.team_id))
            self.team_id = team_id
            await self._join(presence_group(team_id))
            await self._presence_send()

    async def chat_typing(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json({"type": "typing", "user": event["user"]})

    async def chat_read(self, event):
        if event["sender"] != self.channel_name and event["kind"] in self.kinds:
            await self.send_json(
                {"type": "read", "user": event["user"], "message": event["message_id"]}
            )

    async def chat_presence(self, event):
        if event["team_id"] == self.team_id and event["agents_online"] != self.agents_online_sent:
            self.agents_online_sent = event["agents_online"]
            await self.send_json(frames.presence_frame(event["agents_online"]))
