"""A value every process keeps in memory until it changes: read from the database once, then
kept while a version in the shared cache (Redis) says it is current. Writers bump the version,
now and again after COMMIT; without the cache, the value is read from the database each time
(a request is never refused for want of a cache)."""

import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)


class Versioned:
    def __init__(self, key: str, load: Callable[[], object]):
        self.key = key
        self.load = load
        self._version: str | None = None
        self._value: object = None

    def version(self) -> str | None:
        """The current version in the shared cache, for keys of what is derived from the value
        (a rendered page); None without the cache."""
        try:
            version = cache.get(self.key)
            if version is None:
                version = uuid.uuid4().hex
                # Another process may have set it meanwhile: theirs wins, ours reads it next time.
                cache.add(self.key, version, timeout=None)
        except Exception:  # the cache's connection errors, whatever its backend
            log.warning("%s read without the cache", self.key, exc_info=True)
            return None
        return version

    def get(self):
        version = self.version()
        if version is None:
            return self.load()
        if self._version != version:
            self._value, self._version = self.load(), version
        return self._value

    def changed(self) -> None:
        """The rows behind the value changed: now, and again after COMMIT (a process reading in
        between reads the old rows, and must read again once the new ones are there)."""
        self._bump()
        transaction.on_commit(self._bump)

    def _bump(self) -> None:
        try:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
        except Exception:  # Redis down: processes read from the database until it is back
            log.warning("could not mark %s changed", self.key, exc_info=True)
