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

REDIS_CONNECTIONS = 20
REDIS_WAIT_SECONDS = 20

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def _client() -> redis.Redis:
    """One client per event loop: redis.asyncio connections belong to the loop that made them."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # A burst (every socket of a process beating at once) waits for a connection instead
        # of failing once the pool is full.
        pool = redis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_SECONDS
        )
        client = _clients[loop] = redis.Redis(connection_pool=pool)
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


async def agent_online(user_id: int, channel_name: str, team_ids: list[int]) -> list[int]:
    """Mark an agent's socket online in each of their teams (or refresh it); returns the teams
    where the agent was not online before, whose count of agents online has changed.

    Two sorted sets per team: the agent's sockets, and the team's agents scored by their latest
    refresh, so that the count is one ZCOUNT however many sockets the team has open.
    """
    now = time.time()
    async with _client().pipeline(transaction=True) as pipe:
        for team_id in team_ids:
            sockets, agents = _key("presence", team_id, user_id), _key("presence", team_id)
            pipe.zremrangebyscore(sockets, "-inf", now)
            pipe.zadd(sockets, {channel_name: now + _ttl()})
            pipe.expire(sockets, _ttl())
            pipe.zremrangebyscore(agents, "-inf", now)
            pipe.zadd(agents, {str(user_id): now + _ttl()})
            pipe.expire(agents, _ttl())
        results = await pipe.execute()
    return [team_id for n, team_id in enumerate(team_ids) if results[6 * n + 4]]


# The agent leaves the team's set with their last live socket, atomically: a socket opening
# elsewhere meanwhile cannot be lost between the count and the removal.
_OFFLINE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
    return redis.call('ZREM', KEYS[2], ARGV[3])
end
return 0
"""


async def agent_offline(user_id: int, channel_name: str, team_ids: list[int]) -> list[int]:
    """Forget an agent's socket; returns the teams where that was the agent's last one."""
    offline = _client().register_script(_OFFLINE)
    left = []
    for team_id in team_ids:
        keys = [_key("presence", team_id, user_id), _key("presence", team_id)]
        if await offline(keys=keys, args=[channel_name, time.time(), str(user_id)]):
            left.append(team_id)
    return left


async def agents_online(team_id: int) -> int:
    """How many distinct agents of the team have a live socket (one agent may have several)."""
    return await _client().zcount(_key("presence", team_id), time.time(), "+inf")
