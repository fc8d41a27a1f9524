"""Limits on the doors people knock at: how many attempts an address or an account may make in
a window, counted in the shared cache (Redis), so every web process, worker and mail receiver
sees the same counts.

A door is a name in `settings.DOOR_LIMITS`, each with a rate per kind of caller:
`{"login": {"ip": "20/10m", "account": "5/10m"}}`. A caller knocks with what identifies it
(`{"ip": "203.0.113.7", "account": "mario"}`); each kind is counted against its own rate and
the first one over its limit refuses the attempt, saying when to try again. Counting happens
before the work (a password hash, an email, a ticket), so a refused attempt costs one round
trip to Redis.

Windows are fixed: a caller gets `count` attempts per `seconds`, the window starting at its
first attempt. That is what a person who mistyped a password understands ("try again in 7
minutes"), and one `GET` and one `INCR` per kind keep it cheap.
"""

import dataclasses
import functools
import hashlib
import logging
import math
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext

RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd]?)\s*$")
# Keys outlive their window a little: a clock a few seconds ahead still finds them.
WINDOW_KEPT_SECONDS = 60
log = logging.getLogger(__name__)
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclasses.dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """ "5/10m" (5 per 10 minutes), "30/h", "100/60s"; a bare unit counts one of it."""
        match = RATE_RE.match(text)
        if match is None or int(match[1]) < 1:
            raise ValueError(f"{text!r} is not a rate such as 5/10m")
        seconds = int(match[2] if match[2] != "" else 1) * UNIT_SECONDS[match[3]]
        if seconds < 1:
            raise ValueError(f"{text!r} is not a rate: its window is empty")
        return cls(count=int(match[1]), seconds=seconds)


class Refused(Exception):
    """Too many attempts at `door`; the caller may try again after `retry_after` seconds."""

    def __init__(self, door: str, retry_after: int):
        super().__init__(f"{door}: try again in {retry_after} s")
        self.door = door
        self.retry_after = retry_after

    @property
    def detail(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        if self.retry_after < 60:
            return ngettext(
                "Too many attempts. Please try again in %(n)d second.",
                "Too many attempts. Please try again in %(n)d seconds.",
                self.retry_after,
            ) % {"n": self.retry_after}
        return ngettext(
            "Too many attempts. Please try again in %(n)d minute.",
            "Too many attempts. Please try again in %(n)d minutes.",
            minutes,
        ) % {"n": minutes}


def door_rates(door: str) -> dict[str, Rate]:
    """The rates of `door` by kind of caller; a door without limits has none."""
    return {kind: Rate.parse(text) for kind, text in settings.DOOR_LIMITS.get(door, {}).items()}


def _key(door: str, kind: str, ident: str) -> str:
    # Idents are addresses, ids and names: hashed, so that any character makes a safe key.
    digest = hashlib.blake2b(f"{kind}:{ident}".encode(), digest_size=16).hexdigest()
    return f"door:{door}:{digest}"


def door_knock(door: str, idents: dict[str, str | None], *, now: float | None = None) -> None:
    """Count one attempt at `door` by each of `idents`; Refused when any of them is over its
    limit. Kinds without a rate, and empty idents, are not counted."""
    now = time.time() if now is None else now
    try:
        waits = _waits(door, idents, now)
    except Exception:  # Redis down: doors open rather than every page failing with it
        log.warning("door %s not counted: the cache is unavailable", door, exc_info=True)
        return
    if waits:
        raise Refused(door, max(waits))


def _waits(door: str, idents: dict[str, str | None], now: float) -> list[int]:
    waits = []
    for kind, rate in door_rates(door).items():
        ident = idents.get(kind)
        if not ident:
            continue
        count_key = _key(door, kind, str(ident).lower())
        end_key = f"{count_key}:end"
        # The window is the caller's clock, not the cache's: it ends at the time stored with it
        # (the TTL only clears keys nobody uses any more).
        ends = cache.get(end_key)
        if ends is None or ends <= now:
            _window_start(count_key, end_key, rate, now)
            continue
        try:
            count = cache.incr(count_key)
        except ValueError:  # cleared meanwhile: this attempt starts a window
            _window_start(count_key, end_key, rate, now)
            continue
        if count > rate.count:
            waits.append(max(1, math.ceil(ends - now)))
    return waits


def _window_start(count_key: str, end_key: str, rate: Rate, now: float) -> None:
    keep = rate.seconds + WINDOW_KEPT_SECONDS
    cache.set_many({count_key: 1, end_key: now + rate.seconds}, timeout=keep)


def client_address(request) -> str:
    """The client's address as the server saw it. Behind a proxy, the web server rewrites it
    from X-Forwarded-For only for the proxies it trusts (uvicorn's FORWARDED_ALLOW_IPS), so a
    client cannot pick a fresh address per request."""
    return request.META.get("REMOTE_ADDR", "")


def throttled(door: str, idents=None, *, methods: tuple[str, ...] = ("POST",)):
    """A view decorator: each request with one of `methods` knocks at `door` as its client
    address and what `idents(request)` adds (an account, an email address); a refusal is the
    429 page, in the visitor's language, with Retry-After."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                knocking = {"ip": client_address(request), **(idents(request) if idents else {})}
                try:
                    door_knock(door, knocking)
                except Refused as refused:
                    return too_many_attempts(request, refused)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def too_many_attempts(request, refused: Refused) -> HttpResponse:
    response = render(
        request,
        "429.html",
        {"detail": refused.detail, "retry_after": refused.retry_after},
        status=429,
    )
    response["Retry-After"] = str(refused.retry_after)
    return response
