"""What leaves a transaction: Celery tasks and live events, sent only after COMMIT.

Services queue them here (Zulip's `send_event_on_commit`); nothing a transaction rolls back is
ever announced. Tasks are named, not imported: a service never reaches up into the task module
that will run it, and the broker contract is the task's name (every task declares one).
"""

import asyncio
import logging
import os
import threading
from collections.abc import Callable

from celery import current_app
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Enqueue the task called `task_name` after COMMIT; a broker outage is logged, never raised
    into the request: the sweep delivers what is still pending."""

    def send():
        try:
            current_app.send_task(task_name, args=args, retry=False)
        except Exception:  # any broker failure; the row stays pending for the sweep
            log.warning("could not enqueue %s%r; the sweep will retry", task_name, args)

    transaction.on_commit(send)


BROADCAST_TIMEOUT_SECONDS = 2


class _BroadcastLoop:
    """One event loop per process, in a daemon thread, for the channel layer's sends from sync
    code. `async_to_sync` outside a running loop (a Celery worker) starts a loop, and with it
    a Redis connection, per send: 3.3 ms a send against 0.15 ms here (measured on this machine).
    A forked child (prefork worker) starts its own: threads do not survive fork."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="broadcast", daemon=True
                ).start()
            return self._loop

    def send(self, coroutine) -> None:
        # Waited for, so that one thread's events reach the group in the order it sent them.
        asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result(
            timeout=BROADCAST_TIMEOUT_SECONDS
        )


_broadcast_loop = _BroadcastLoop()


def broadcast_on_commit(group: str, event: dict | Callable[[], dict | None]) -> None:
    """Send `event` to a channel group once the transaction commits; a callable builds it then,
    None sending nothing. At most once: clients recover from the database with `after=`."""

    def send():
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            built = event() if callable(event) else event
            if built is not None:
                _broadcast_loop.send(layer.group_send(group, built))
        except Exception:  # the socket is only the fast path; the database has the message
            log.warning("could not broadcast to %s", group)

    transaction.on_commit(send)
