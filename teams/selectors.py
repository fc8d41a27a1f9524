"""Reads of the support structure: teams with their calendars, and `team_calendar`, which turns a
team's rows into the pure `teams.calendar` value every deadline is computed on."""

import datetime
import functools
from itertools import groupby

import holidays
from django.db.models import QuerySet
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from teams.calendar import BusinessCalendar
from teams.models import Team


def teams_with_calendars(teams: QuerySet[Team] | None = None) -> QuerySet[Team]:
    """Teams with what `team_calendar` reads prefetched: a page listing any number of teams
    with their calendars costs three queries."""
    teams = Team.objects.all() if teams is None else teams
    return teams.prefetch_related("working_hours", "holidays")


# Public holidays are computed for a fixed window rather than around "now": the calendar then
# needs no clock, and a deadline far ahead still skips them. The package computes a century in
# a few milliseconds, once per process per country (cached below).
HOLIDAY_YEARS = range(2000, 2100)


class UnknownHolidayCalendarError(ValueError):
    pass


@functools.lru_cache(maxsize=64)
def public_holidays(
    country: str, subdivision: str = "", years: range = HOLIDAY_YEARS
) -> frozenset[datetime.date]:
    """The public holidays of `country` (ISO 3166 code) and optional `subdivision`."""
    if not country:
        return frozenset()
    try:
        calendar = holidays.country_holidays(
            country.upper(), subdiv=subdivision or None, years=years
        )
    except NotImplementedError as exc:
        raise UnknownHolidayCalendarError(
            _("No public holiday calendar for %(country)s %(subdivision)s.")
            % {"country": country, "subdivision": subdivision}
        ) from exc
    return frozenset(calendar)


@functools.lru_cache(maxsize=1024)
def _calendar(
    timezone: str,
    hours: tuple[tuple[int, int, int], ...],
    closed: frozenset[datetime.date],
    country: str,
    subdivision: str,
    years: range,
) -> BusinessCalendar:
    # Keyed on the content, not the team: an edited team builds a new calendar, an unchanged
    # one reuses the value (and the union with a century of public holidays) from last time.
    return BusinessCalendar(timezone, hours, closed | public_holidays(country, subdivision, years))


def team_calendar(team: Team, *, years: range = HOLIDAY_YEARS) -> BusinessCalendar:
    """The business calendar of `team`: its WorkingHours in its zone, closed on its Holiday
    rows and on the public holidays of its `holiday_country` within `years`.

    Reads `team.working_hours.all()` and `team.holidays.all()`, so a team fetched through
    `teams_with_calendars` costs no query.
    """
    hours = tuple(
        sorted((row.weekday, row.start_minute, row.end_minute) for row in team.working_hours.all())
    )
    closed = frozenset(row.date for row in team.holidays.all())
    return _calendar(
        team.timezone, hours, closed, team.holiday_country, team.holiday_subdivision, years
    )


FULL_DAY = ((0, 1440),)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def hours_summary(ranges_by_weekday: dict[int, tuple[tuple[int, int], ...]], zone: str) -> str:
    """ "Mon-Fri, 09:00-18:00 CET" from a team's hours; "24/7" when it never closes."""
    if all(ranges_by_weekday.get(day) == FULL_DAY for day in range(7)):
        return "24/7"
    parts = []
    # Consecutive weekdays with the same ranges read as one span: Mon-Fri.
    for ranges, days in groupby(range(7), key=lambda day: ranges_by_weekday.get(day, ())):
        days = list(days)
        if not ranges:
            continue
        first, last = capfirst(WEEKDAYS_ABBR[days[0]]), capfirst(WEEKDAYS_ABBR[days[-1]])
        span = first if len(days) == 1 else f"{first}-{last}"
        times = ", ".join(f"{_hhmm(start)}-{_hhmm(end)}" for start, end in ranges)
        parts.append(f"{span}, {times}")
    if not parts:
        return _("No regular hours")
    return f"{'; '.join(parts)} {zone}"


def team_hours_text(team: Team) -> str:
    """The team's working hours in words ("Mon-Fri, 08:00-22:00 CET"); reads
    `team.working_hours.all()`, free when prefetched."""
    ranges: dict[int, tuple[tuple[int, int], ...]] = {}
    for row in team.working_hours.all():
        ranges[row.weekday] = (*ranges.get(row.weekday, ()), (row.start_minute, row.end_minute))
    return hours_summary(ranges, team.timezone)


def team_public_name(team: Team) -> str:
    """How customers meet a team: what it does, in their language, and its site."""
    name = str(team.get_kind_display())
    return f"{name} ({team.site.upper()})" if team.site else name
