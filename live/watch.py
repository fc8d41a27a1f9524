"""Whether the channel layer may have lost events on their way to this process's sockets.

The layer is at most once: when Redis stops, or the connection to it drops, the events
published meanwhile are gone, and the layer reconnects and subscribes again without a word.
A socket that stayed open would then miss messages for good. So each process sends itself a
numbered beat through the layer every BEAT_SECONDS; a beat that cannot be sent, a number that
skips, or silence for LOST_AFTER_SECONDS means events may have been lost. Every socket open
then is told to reconnect (live.consumers): it replays what it missed from the database with
`after=`, which is the guarantee. Until beats come back, new sockets are asked to try again
later.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0
# Silence this long means the layer is not delivering: ample for a loaded machine, whose
# events take milliseconds.
LOST_AFTER_SECONDS = 5.0
# How long a socket that opens while no beat has come back yet waits for one.
JOIN_WAIT_SECONDS = 2.0
BEAT_EVENT = "watch.beat"

Lost = Callable[[], Awaitable[None]]


class LayerWatch:
    """One per event loop (a process's sockets share one layer per loop)."""

    def __init__(self, layer):
        self.layer = layer
        self.up = asyncio.Event()
        self.told: dict[object, Lost] = {}  # sockets to tell, by a key of theirs
        self.telling: set[asyncio.Future] = set()  # kept until done: the loop holds tasks weakly
        self.channel: str | None = None
        self.sent = 0
        self.received = 0
        self.heard_at = time.monotonic()
        self.task = asyncio.ensure_future(self._run())

    async def join(self, key: object, lost: Lost) -> bool:
        """Tell `lost()` when events may have been lost; False (and nothing registered) when
        the layer is not delivering now."""
        if not self.up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.up.wait(), JOIN_WAIT_SECONDS)
        if not self.up.is_set():
            return False
        self.told[key] = lost
        return True

    def leave(self, key: object) -> None:
        self.told.pop(key, None)

    async def _run(self) -> None:
        receiver: asyncio.Task | None = None
        try:
            while True:
                try:
                    if self.channel is None:
                        self.channel = await self.layer.new_channel("watch.")
                        receiver = asyncio.ensure_future(self._receive(self.channel))
                    self.sent += 1
                    await asyncio.wait_for(
                        self.layer.send(self.channel, {"type": BEAT_EVENT, "n": self.sent}),
                        LOST_AFTER_SECONDS,
                    )
                except Exception:  # the layer's connection errors, whatever its backend
                    self._lost("a beat could not be sent")
                if time.monotonic() - self.heard_at > LOST_AFTER_SECONDS:
                    self._lost("no beat came back")
                await asyncio.sleep(BEAT_SECONDS)
        finally:
            if receiver is not None:
                receiver.cancel()

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                beat = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(BEAT_SECONDS)
                continue
            if beat.get("type") != BEAT_EVENT:
                continue
            if beat["n"] != self.received + 1:
                self._lost("beats were lost")
            self.received = beat["n"]
            self.heard_at = time.monotonic()
            if beat["n"] == self.sent:
                self.up.set()

    def _lost(self, why: str) -> None:
        if not self.up.is_set() and not self.told:
            return
        log.warning(
            "the channel layer may have lost events (%s): %d sockets told", why, len(self.told)
        )
        self.up.clear()
        # Beats count again from the next one that comes back.
        self.received = self.sent
        told, self.told = self.told, {}
        for lost in told.values():
            telling = asyncio.ensure_future(lost())
            self.telling.add(telling)
            telling.add_done_callback(self.telling.discard)


_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerWatch]" = (
    weakref.WeakKeyDictionary()
)


def layer_watch(layer) -> LayerWatch:
    """The watch of this event loop's layer, started by its first socket."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None or watch.layer is not layer:
        watch = _watches[loop] = LayerWatch(layer)
    return watch
