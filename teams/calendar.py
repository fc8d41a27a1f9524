"""Business time of a team: its weekly hours in its own zone, less the dates it is closed.

Pure: standard library only, no clock. Every instant going in must be an aware datetime (a
naive one raises ValueError); every instant coming out is in UTC.

What a range means. A range `(weekday, start, end)` is local wall-clock time, in minutes from
local midnight (`end` 1440 is 24:00), on every date of that weekday that is not closed. The
team opens at the first instant its clock shows `start` and closes at the last instant its
clock shows `end`, and business time is the real time elapsed in between. So on the night the
clocks spring forward a range across the jump is shorter (01:00-03:00 in Amsterdam lasts one
hour), on the night they fall back it is longer (three hours); a boundary that the jump skips
over is the instant of the jump. Ranges that touch or overlap, within a day or across
midnight, make one open stretch and are never counted twice.

Cost: the functions walk the calendar day by day (a few conversions per range and day), never
minute by minute, and no walk runs on forever: past the last closed date every week has
working time, and a calendar that is never open raises `AlwaysClosedError` instead.
"""

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MINUTES_PER_DAY = 24 * 60
ZERO = dt.timedelta(0)
DAY = dt.timedelta(days=1)

Range = tuple[int, int, int]
Stretch = tuple[dt.datetime, dt.datetime]


class AlwaysClosedError(ValueError):
    """The calendar has no working time ahead, so no deadline on it can ever be reached."""


@dataclass(frozen=True)
class BusinessCalendar:
    """A team's working time as an immutable, hashable value.

    `hours` takes `(weekday, start_minute, end_minute)` triples (weekday 0 = Monday; several
    per day allowed; a weekday without any is closed) and is stored sorted, with touching or
    overlapping ranges of a day merged, so equal calendars compare equal. `closed_dates` are
    local dates (holidays) on which the weekly ranges do not apply.
    """

    timezone: str
    hours: tuple[Range, ...] = ()
    closed_dates: frozenset[dt.date] = frozenset()
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    _week: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.timezone!r} is not an IANA time zone") from exc
        week = _week_of(self.hours)
        closed = frozenset(self.closed_dates)
        for day in closed:
            # A datetime is a date too, but never equal to one: it would silently close nothing.
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise ValueError(f"closed date {day!r} is not a date")
        object.__setattr__(
            self, "hours", tuple((wd, s, e) for wd, ranges in enumerate(week) for s, e in ranges)
        )
        object.__setattr__(self, "closed_dates", closed)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_week", week)

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> "BusinessCalendar":
        """24/7: business time equals wall-clock time, in any zone."""
        return cls(timezone, tuple((weekday, 0, MINUTES_PER_DAY) for weekday in range(7)))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._zone

    def _day(self, day: dt.date) -> list[Stretch]:
        """The open stretches of one local date, in UTC (empty when closed)."""
        if day in self.closed_dates:
            return []
        stretches = []
        for start, end in self._week[day.weekday()]:
            opens = _instant(self._zone, day, start, last=False)
            closes = _instant(self._zone, day, end, last=True)
            if closes > opens:
                stretches.append((opens, closes))
        return stretches


def _week_of(hours: Iterable[Range]) -> tuple[tuple[tuple[int, int], ...], ...]:
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for item in hours:
        weekday, start, end = item
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in item):
            raise ValueError(f"range {item!r} must be three integers")
        if not 0 <= weekday <= 6:
            raise ValueError(f"range {item!r}: weekday must be 0 (Monday) to 6 (Sunday)")
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise ValueError(f"range {item!r}: need 0 <= start < end <= {MINUTES_PER_DAY}")
        days[weekday].append((start, end))
    week = []
    for ranges in days:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        week.append(tuple(merged))
    return tuple(week)


def _instant(zone: zoneinfo.ZoneInfo, day: dt.date, minute: int, *, last: bool) -> dt.datetime:
    """The UTC instant at which the local clock shows `minute` of `day`.

    Shown twice (clocks fall back): the first for an opening, the last for a closing (`last`).
    Never shown (clocks spring forward over it): the instant of the jump.
    """
    if minute == MINUTES_PER_DAY:
        day, minute = day + DAY, 0
    wall = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    # The zone's offsets for both readings of the wall time (PEP 495 fold); one call each is
    # cheaper than two conversions, and this runs for every range of every day walked.
    first = (wall - zone.utcoffset(wall)).replace(tzinfo=dt.UTC)
    second = (wall - zone.utcoffset(wall.replace(fold=1))).replace(tzinfo=dt.UTC)
    if first == second:
        return first
    if first < second:
        return second if last else first
    # In a gap fold=0 reads the wall with the offset before the jump, which lands after it.
    return _jump(zone, wall, second, first)


def _jump(zone: zoneinfo.ZoneInfo, wall: dt.datetime, before: dt.datetime, after: dt.datetime):
    """First instant whose local time is past `wall`, by bisection over whole seconds
    (zone transitions fall on whole seconds): about a dozen steps for an hour's jump."""
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dt.datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return dt.datetime.fromtimestamp(hi, dt.UTC)


def _stretches(
    cal: BusinessCalendar, since: dt.datetime, until: dt.datetime | None = None
) -> Iterator[Stretch]:
    """Open stretches after `since` in order, clipped to start no earlier than `since` and
    never to overlap one another.

    With `until` the walk ends with the local date of `until`. Without it the walk goes on as
    long as the caller takes stretches, and it always finds one: past the last closed date
    every weekday with hours comes back each week, and the clocks can skip a whole range on one
    night a year at most. Only a calendar without hours, or one closed on every working day
    until the end of the representable dates, has none: both raise AlwaysClosedError.
    """
    if until is None and not cal.hours:
        raise AlwaysClosedError(f"the calendar in {cal.timezone} has no working hours")
    day = since.astimezone(cal.zone).date() - DAY  # yesterday's 24:00 may end after `since`
    last_day = until.astimezone(cal.zone).date() if until is not None else None
    covered = since
    while last_day is None or day <= last_day:
        try:
            stretches = cal._day(day)
            day += DAY
        except OverflowError as exc:
            raise AlwaysClosedError(
                f"the calendar in {cal.timezone} has no working time after {since.isoformat()}"
            ) from exc
        for opens, closes in stretches:
            opens = max(opens, covered)
            if closes > opens:
                covered = closes
                yield opens, closes


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC)


def is_open(at: dt.datetime, cal: BusinessCalendar) -> bool:
    """Whether the team works at `at` (open at its opening instant, closed at its closing)."""
    at = _utc(at, "at")
    if not cal.hours:
        return False
    opens, _closes = next(_stretches(cal, at))
    return opens == at


def next_open(at: dt.datetime, cal: BusinessCalendar) -> dt.datetime:
    """`at` itself (in UTC) when the team works then, else when it next starts working."""
    at = _utc(at, "at")
    opens, _closes = next(_stretches(cal, at))
    return opens


def add_business_time(
    start: dt.datetime, duration: dt.timedelta, cal: BusinessCalendar
) -> dt.datetime:
    """The instant at which `duration` of working time after `start` has passed.

    Zero returns `start` itself; a duration used up exactly at a closing returns that closing,
    not the next opening.
    """
    start = _utc(start, "start")
    if not isinstance(duration, dt.timedelta):
        raise TypeError("duration must be a timedelta")
    if duration < ZERO:
        raise ValueError("duration must not be negative")
    if duration == ZERO:
        return start
    remaining = duration
    stretches = _stretches(cal, start)  # endless, or raises AlwaysClosedError
    while True:
        opens, closes = next(stretches)
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens


def business_time_between(a: dt.datetime, b: dt.datetime, cal: BusinessCalendar) -> dt.timedelta:
    """Working time from `a` to `b`, signed: negative when `b` is before `a`.

    Signed so that it is antisymmetric and additive over any three instants
    (`between(a, b) + between(b, c) == between(a, c)`): "overdue by" is `between(due, now)`.
    Callers that want elapsed time only clamp with `max(..., ZERO)`. Never raises for a
    calendar that is never open: no working time has passed.
    """
    a, b = _utc(a, "a"), _utc(b, "b")
    if b < a:
        return -business_time_between(b, a, cal)
    total = ZERO
    for opens, closes in _stretches(cal, a, until=b):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total
