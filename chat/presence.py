"""Who is connected, shared by every web process through Redis.

Each socket is one member of a sorted set scored by its expiry time: a socket refreshes its
entries while it lives, and the entries of a killed process simply expire. No counter can be
left wrong by a crash.
"""

import asyncio
import time
import weakref

import redis.asyncio as redis
from django.conf import settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def _client() -> redis.Redis:
    """One client per event loop: redis.asyncio connections belong to the loop that made them."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = redis.Redis.from_url(settings.REDIS_URL)
    return client


def _key(*parts) -> str:
    return ":".join([settings.CHAT_REDIS_PREFIX, *map(str, parts)])


def _ttl() -> int:
    return settings.CHAT_PRESENCE_TTL_SECONDS


async def _enter(key: str, member: str) -> int:
    """Add or refresh `member`; returns how many live members the set holds."""
    now = time.time()
    async with _client().pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {member: now + _ttl()})
        pipe.zcard(key)
        pipe.expire(key, _ttl())
        results = await pipe.execute()
    return results[2]


async def connection_open(user_id: int, channel_name: str) -> int:
    """Count this socket among the user's; returns how many the user now has open."""
    return await _enter(_key("conn", user_id), channel_name)


async def connection_close(user_id: int, channel_name: str) -> None:
    await _client().zrem(_key("conn", user_id), channel_name)


async def agent_online(user_id: int, channel_name: str, team_ids: list[int]) -> None:
    """Mark an agent's socket online in each of their teams (or refresh it)."""
    for team_id in team_ids:
        await _enter(_key("presence", team_id), f"{user_id}:{channel_name}")


async def agent_offline(user_id: int, channel_name: str, team_ids: list[int]) -> None:
    for team_id in team_ids:
        await _client().zrem(_key("presence", team_id), f"{user_id}:{channel_name}")


async def agents_online(team_id: int) -> int:
    """How many distinct agents of the team have a live socket (one agent may have several)."""
    members = await _client().zrangebyscore(_key("presence", team_id), time.time(), "+inf")
    return len({member.split(b":", 1)[0] for member in members})
