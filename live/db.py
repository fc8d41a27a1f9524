"""The database calls of the live chat's sockets, on a small thread pool of their own.

Channels runs every `database_sync_to_async` call of a process on one thread, one after the
other: each message then waits for every other socket's queries and commits (a commit waits
for the disk). A few threads, each keeping its connection (CONN_MAX_AGE), let those waits
overlap. Order still holds where it matters: a socket handles its frames one at a time, and
writes to one ticket queue on its row lock.

Each call is a request to Django: connections are closed after it when broken or too old.
The health check (CONN_HEALTH_CHECKS: a `SELECT 1` before the first query of a request) is
made only on a connection idle for a while; a frame is one query, and under load the check
doubled the round trips to PostgreSQL.
"""

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

# Enough to overlap commits and reads without holding many PostgreSQL connections per process.
DB_THREADS = 4
# A connection used this recently is known to work (a failed query marks it for closing).
HEALTH_CHECK_IDLE_SECONDS = 1.0

_pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="chat-db")
_thread = threading.local()


class ChatDatabaseCall(SyncToAsync):
    """Channels' DatabaseSyncToAsync on the chat's pool, without the health check of a
    connection that has just been used."""

    def thread_handler(self, loop, *args, **kwargs):
        idle = time.monotonic() - getattr(_thread, "used_at", -math.inf)
        close_old_connections()
        if idle < HEALTH_CHECK_IDLE_SECONDS:
            for connection in connections.all(initialized_only=True):
                connection.health_check_done = True  # Django's flag: this request's check
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()
            _thread.used_at = time.monotonic()


def database_sync_to_async(func):
    return ChatDatabaseCall(func, thread_sensitive=False, executor=_pool)


def connections_close() -> None:
    """Close the connection each thread of the pool keeps, before its database is dropped
    (a test's). Every thread runs one close: each waits for the others at the barrier."""
    barrier = threading.Barrier(DB_THREADS)

    def close() -> None:
        connections.close_all()
        barrier.wait(timeout=30)

    for done in [_pool.submit(close) for _ in range(DB_THREADS)]:
        done.result()
