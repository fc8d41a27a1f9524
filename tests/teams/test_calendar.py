"""The business calendar: pure arithmetic over aware datetimes, no database."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teams.calendar import (
    AlwaysClosedError,
    BusinessCalendar,
    add_business_time,
    business_time_between,
    is_open,
    next_open,
)

UTC = dt.UTC
CET = ZoneInfo("CET")
AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
WEEKDAYS = range(5)


def weekdays(timezone: str, start: str, end: str, **kwargs) -> BusinessCalendar:
    """Mon-Fri from `start` to `end` local time, e.g. weekdays("CET", "09:00", "18:00")."""

    def minute(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    return BusinessCalendar(
        timezone, tuple((day, minute(start), minute(end)) for day in WEEKDAYS), **kwargs
    )


def at(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


BILLING = weekdays("CET", "09:00", "18:00")


# --- The promises of the guide -------------------------------------------------------------


def test_two_hours_of_billing_time_from_friday_1755_land_monday_1055_cet():
    friday = at(CET, 2026, 1, 16, 17, 55)
    due = add_business_time(friday, 2 * H, BILLING)
    assert due == at(CET, 2026, 1, 19, 10, 55)
    assert due.tzinfo is UTC
    assert business_time_between(friday, due, BILLING) == 2 * H


def test_the_billing_case_holds_in_summer_time_too():
    friday = at(CET, 2026, 7, 17, 17, 55)
    due = add_business_time(friday, 2 * H, BILLING)
    assert due == at(CET, 2026, 7, 20, 10, 55)
    assert due == at(UTC, 2026, 7, 20, 8, 55)


def test_a_duration_used_up_at_closing_time_ends_at_closing_not_at_next_opening():
    monday = at(CET, 2026, 1, 12, 9)
    assert add_business_time(monday, 9 * H, BILLING) == at(CET, 2026, 1, 12, 18)
    assert add_business_time(monday, 9 * H + M, BILLING) == at(CET, 2026, 1, 13, 9, 1)


def test_starting_outside_hours_counts_from_the_next_opening():
    saturday = at(CET, 2026, 1, 17, 12)
    assert add_business_time(saturday, 30 * M, BILLING) == at(CET, 2026, 1, 19, 9, 30)
    assert business_time_between(saturday, at(CET, 2026, 1, 19, 9, 30), BILLING) == 30 * M


def test_zero_duration_is_the_start_itself_even_when_closed():
    sunday = at(CET, 2026, 1, 18, 3)
    assert add_business_time(sunday, dt.timedelta(0), BILLING) == sunday


@pytest.mark.parametrize(
    ("zone", "winter_utc", "summer_utc"),
    [("Europe/Amsterdam", 7, 6), ("America/New_York", 13, 12)],
)
def test_a_data_center_opens_at_0800_local_whatever_the_offset(zone, winter_utc, summer_utc):
    cal = weekdays(zone, "08:00", "17:00")
    assert next_open(at(UTC, 2026, 1, 12, 0), cal) == at(UTC, 2026, 1, 12, winter_utc)
    assert next_open(at(UTC, 2026, 7, 13, 0), cal) == at(UTC, 2026, 7, 13, summer_utc)


def test_new_york_and_europe_change_clocks_on_different_sundays():
    # 2026-03-09: New York is already on EDT (since 8 March), Amsterdam still on CET.
    ams, nyc = (
        weekdays("Europe/Amsterdam", "08:00", "17:00"),
        weekdays("America/New_York", "08:00", "17:00"),
    )
    monday = at(UTC, 2026, 3, 9, 0)
    assert next_open(monday, ams) == at(UTC, 2026, 3, 9, 7)
    assert next_open(monday, nyc) == at(UTC, 2026, 3, 9, 12)


# --- is_open / next_open ------------------------------------------------------------------


def test_open_at_opening_instant_closed_at_closing_instant():
    assert is_open(at(CET, 2026, 1, 12, 9), BILLING)
    assert is_open(at(CET, 2026, 1, 12, 17, 59, 59), BILLING)
    assert not is_open(at(CET, 2026, 1, 12, 18), BILLING)
    assert not is_open(at(CET, 2026, 1, 12, 8, 59, 59), BILLING)
    assert not is_open(at(CET, 2026, 1, 17, 12), BILLING)


def test_next_open_is_the_instant_itself_when_open_in_utc():
    inside = at(CET, 2026, 1, 12, 10, 15, 30, 123)
    result = next_open(inside, BILLING)
    assert result == inside
    assert result.tzinfo is UTC


def test_next_open_after_closing_is_the_next_working_morning():
    assert next_open(at(CET, 2026, 1, 12, 18), BILLING) == at(CET, 2026, 1, 13, 9)
    assert next_open(at(CET, 2026, 1, 16, 18), BILLING) == at(CET, 2026, 1, 19, 9)


def test_the_same_instant_in_any_zone_gives_the_same_answer():
    instant = at(CET, 2026, 1, 16, 17, 55)
    for zone in (UTC, NYC, ZoneInfo("Asia/Tokyo")):
        assert add_business_time(instant.astimezone(zone), 2 * H, BILLING) == at(
            CET, 2026, 1, 19, 10, 55
        )


# --- Midnight and 24:00 -----------------------------------------------------------------


def test_a_range_ending_at_2400_is_open_until_midnight():
    cal = BusinessCalendar("Europe/Amsterdam", ((0, 22 * 60, 1440),))
    assert is_open(at(AMS, 2026, 1, 12, 23, 59, 59), cal)
    assert not is_open(at(AMS, 2026, 1, 13, 0), cal)
    assert add_business_time(at(AMS, 2026, 1, 12, 23), H, cal) == at(AMS, 2026, 1, 13, 0)


def test_ranges_that_meet_at_midnight_are_one_stretch():
    cal = BusinessCalendar("Europe/Amsterdam", ((0, 22 * 60, 1440), (1, 0, 2 * 60)))
    monday_night = at(AMS, 2026, 1, 12, 22)
    assert is_open(at(AMS, 2026, 1, 13, 0), cal)
    assert add_business_time(monday_night, 3 * H, cal) == at(AMS, 2026, 1, 13, 1)
    assert business_time_between(monday_night, at(AMS, 2026, 1, 13, 5), cal) == 4 * H


def test_several_ranges_a_day_and_the_lunch_break_between_them():
    cal = BusinessCalendar("CET", ((0, 9 * 60, 12 * 60), (0, 13 * 60, 17 * 60)))
    monday = at(CET, 2026, 1, 12, 11)
    assert add_business_time(monday, 2 * H, cal) == at(CET, 2026, 1, 12, 14)
    assert not is_open(at(CET, 2026, 1, 12, 12, 30), cal)
    assert next_open(at(CET, 2026, 1, 12, 12, 30), cal) == at(CET, 2026, 1, 12, 13)


def test_overlapping_and_touching_ranges_are_merged_and_counted_once():
    messy = BusinessCalendar("CET", ((0, 600, 720), (0, 540, 660), (0, 720, 780)))
    assert messy.hours == ((0, 540, 780),)
    assert messy == BusinessCalendar("CET", ((0, 540, 780),))
    assert hash(messy) == hash(BusinessCalendar("CET", ((0, 540, 780),)))
    monday = at(CET, 2026, 1, 12, 0)
    assert business_time_between(monday, monday + 24 * H, messy) == 4 * H


# --- Daylight saving time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Amsterdam", dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
        ("CET", dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
        ("America/New_York", dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    ],
)
def test_a_night_range_is_shorter_in_spring_and_longer_in_autumn(zone, spring, autumn):
    # 01:00-03:00 local on Sundays: the clocks jump 02:00->03:00 (spring), 03:00->02:00
    # (Europe, autumn) or 02:00->01:00 (New York, autumn).
    cal = BusinessCalendar(zone, ((6, 60, 180),))
    tz = ZoneInfo(zone)

    def night(day: dt.date) -> dt.timedelta:
        start = dt.datetime.combine(day, dt.time(0), tz)
        return business_time_between(start, start + 12 * H, cal)

    assert night(spring) == H
    assert night(autumn) == 3 * H
    assert night(spring - dt.timedelta(days=7)) == 2 * H
    opens = next_open(dt.datetime.combine(autumn, dt.time(0), tz), cal)
    assert add_business_time(opens, 3 * H, cal) - opens == 3 * H


def test_a_24_hour_day_lasts_23_or_25_real_hours_on_dst_sundays():
    cal = BusinessCalendar("Europe/Amsterdam", ((6, 0, 1440),))
    spring = at(AMS, 2026, 3, 29, 0)
    autumn = at(AMS, 2026, 10, 25, 0)
    assert business_time_between(spring, spring + 48 * H, cal) == 23 * H
    assert business_time_between(autumn, autumn + 48 * H, cal) == 25 * H


def test_a_boundary_the_clocks_skip_is_the_instant_of_the_jump():
    # 02:30 does not exist in Amsterdam on 2026-03-29: the team opens when the clock jumps
    # from 02:00 CET to 03:00 CEST (01:00 UTC), and works until 04:00 CEST.
    cal = BusinessCalendar("Europe/Amsterdam", ((6, 150, 240),))
    opens = next_open(at(UTC, 2026, 3, 28, 12), cal)
    assert opens == at(UTC, 2026, 3, 29, 1)
    assert add_business_time(opens, H, cal) == at(AMS, 2026, 3, 29, 4)
    gap_only = BusinessCalendar("Europe/Amsterdam", ((6, 120, 180),))
    assert next_open(at(UTC, 2026, 3, 28, 12), gap_only) == at(AMS, 2026, 4, 5, 2)


def test_hours_across_the_autumn_change_follow_the_local_clock():
    # Mon-Fri 08:00-22:00 CET; the week after the change the evening closes an hour later in UTC.
    sysadmin = weekdays("CET", "08:00", "22:00")
    friday = at(CET, 2026, 10, 23, 21)
    due = add_business_time(friday, 2 * H, sysadmin)
    assert due == at(CET, 2026, 10, 26, 9)
    assert due == at(UTC, 2026, 10, 26, 8)


# --- Holidays and closed stretches ------------------------------------------------------


def test_a_holiday_on_a_working_day_closes_the_team():
    christmas = dt.date(2026, 12, 25)  # a Friday
    cal = weekdays("CET", "09:00", "18:00", closed_dates=frozenset({christmas}))
    assert not is_open(at(CET, 2026, 12, 25, 10), cal)
    thursday = at(CET, 2026, 12, 24, 17)
    assert add_business_time(thursday, 2 * H, cal) == at(CET, 2026, 12, 28, 10)
    assert business_time_between(thursday, at(CET, 2026, 12, 28, 10), cal) == 2 * H


def test_a_closed_week_is_skipped():
    week = frozenset(dt.date(2026, 8, 3) + dt.timedelta(days=n) for n in range(7))
    cal = weekdays("Europe/Amsterdam", "08:00", "17:00", closed_dates=week)
    friday = at(AMS, 2026, 7, 31, 16)
    assert add_business_time(friday, 2 * H, cal) == at(AMS, 2026, 8, 10, 9)
    assert next_open(at(AMS, 2026, 8, 3, 8), cal) == at(AMS, 2026, 8, 10, 8)


def test_a_long_run_of_closed_dates_is_walked_through_not_mistaken_for_always_closed():
    closed = frozenset(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(400))
    cal = weekdays("CET", "09:00", "18:00", closed_dates=closed)
    assert next_open(at(CET, 2026, 1, 1, 0), cal) == at(CET, 2027, 2, 5, 9)


def test_a_calendar_that_is_never_open_raises_instead_of_looping():
    never = BusinessCalendar("CET")
    start = at(CET, 2026, 1, 12, 9)
    with pytest.raises(AlwaysClosedError, match="no working hours"):
        add_business_time(start, M, never)
    with pytest.raises(AlwaysClosedError):
        next_open(start, never)
    assert not is_open(start, never)
    assert business_time_between(start, start + 1000 * H, never) == dt.timedelta(0)
    assert add_business_time(start, dt.timedelta(0), never) == start


def test_hours_closed_on_every_working_day_to_the_end_of_time_raise_too():
    mondays_only = BusinessCalendar("UTC", ((0, 540, 600),))
    start = at(UTC, 9900, 1, 1)  # a Monday
    first_monday = start.date()
    to_the_end = range(0, (dt.date.max - first_monday).days + 1, 7)
    closed = frozenset(first_monday + dt.timedelta(days=n) for n in to_the_end)
    assert next_open(start, mondays_only) == at(UTC, 9900, 1, 1, 9)
    with pytest.raises(AlwaysClosedError, match="no working time"):
        next_open(start, BusinessCalendar("UTC", mondays_only.hours, closed))


# --- 24/7 --------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam", "America/New_York", "CET"])
def test_24_7_is_the_wall_clock_in_any_zone(zone):
    cal = BusinessCalendar.always_open(zone)
    for start in (at(UTC, 2026, 3, 28, 22, 17), at(UTC, 2026, 10, 31, 23), at(UTC, 2026, 11, 1)):
        for hours in (0.5, 3, 49, 24 * 9):
            duration = dt.timedelta(hours=hours)
            assert add_business_time(start, duration, cal) == start + duration
            assert business_time_between(start, start + duration, cal) == duration
        assert is_open(start, cal)
        assert next_open(start, cal) == start


# --- Inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: is_open(naive, BILLING),
        lambda naive: next_open(naive, BILLING),
        lambda naive: add_business_time(naive, H, BILLING),
        lambda naive: business_time_between(naive, at(UTC, 2026, 1, 1), BILLING),
        lambda naive: business_time_between(at(UTC, 2026, 1, 1), naive, BILLING),
    ],
)
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="aware"):
        call(dt.datetime(2026, 1, 12, 9))


def test_between_is_signed_and_additive():
    a, b, c = at(CET, 2026, 1, 12, 10), at(CET, 2026, 1, 14, 12), at(CET, 2026, 1, 20, 9)
    assert business_time_between(a, b, BILLING) == 8 * H + 9 * H + 3 * H
    assert business_time_between(b, a, BILLING) == -business_time_between(a, b, BILLING)
    assert business_time_between(a, a, BILLING) == dt.timedelta(0)
    assert business_time_between(a, b, BILLING) + business_time_between(
        b, c, BILLING
    ) == business_time_between(a, c, BILLING)
    assert business_time_between(c, a, BILLING) == business_time_between(
        c, b, BILLING
    ) + business_time_between(b, a, BILLING)


def test_negative_durations_are_refused():
    with pytest.raises(ValueError, match="negative"):
        add_business_time(at(UTC, 2026, 1, 1), -H, BILLING)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"timezone": "UTC", "hours": ((7, 0, 60),)}, "weekday"),
        ({"timezone": "UTC", "hours": ((0, 600, 600),)}, "start < end"),
        ({"timezone": "UTC", "hours": ((0, 600, 1441),)}, "start < end"),
        ({"timezone": "UTC", "hours": ((0, 60.0, 120),)}, "integers"),
        ({"timezone": "UTC", "closed_dates": {dt.datetime(2026, 1, 1, tzinfo=UTC)}}, "not a date"),
    ],
)
def test_invalid_calendars_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


# --- Properties --------------------------------------------------------------------------

ZONES = [
    "UTC",
    "CET",
    "Europe/Amsterdam",
    "America/New_York",
    # A half-hour DST shift, and a zone whose clocks change at midnight.
    "Australia/Lord_Howe",
    "America/Santiago",
]


@st.composite
def calendars(draw) -> BusinessCalendar:
    zone = draw(st.sampled_from(ZONES))
    ranges = draw(
        st.lists(
            st.tuples(
                st.integers(0, 6),
                st.integers(0, 1439).flatmap(
                    lambda s: st.tuples(st.just(s), st.integers(s + 1, 1440))
                ),
            ).map(lambda r: (r[0], *r[1])),
            min_size=1,
            max_size=8,
        )
    )
    closed = draw(st.frozensets(st.dates(dt.date(2024, 12, 1), dt.date(2027, 2, 1)), max_size=40))
    return BusinessCalendar(zone, tuple(ranges), closed)


instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.sampled_from([ZoneInfo(name) for name in ZONES]),
)
durations = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=40))


def bounded(duration: dt.timedelta, cal: BusinessCalendar) -> dt.timedelta:
    """At most six weeks of the calendar's working time: a calendar open a few minutes a week
    would otherwise walk centuries for a long duration."""
    weekly = dt.timedelta(minutes=sum(end - start for _day, start, end in cal.hours))
    return duration % (6 * weekly)


@settings(max_examples=300, deadline=None)
@given(start=instants, duration=durations, cal=calendars())
def test_between_inverts_add(start, duration, cal):
    duration = bounded(duration, cal)
    due = add_business_time(start, duration, cal)
    assert due >= start
    assert due.tzinfo is UTC
    assert business_time_between(start, due, cal) == duration


@settings(max_examples=150, deadline=None)
@given(start=instants, first=durations, second=durations, cal=calendars())
def test_adding_in_two_steps_is_adding_once(start, first, second, cal):
    first, second = bounded(first, cal), bounded(second, cal)
    halfway = add_business_time(start, first, cal)
    assert add_business_time(halfway, second, cal) == add_business_time(start, first + second, cal)


@settings(max_examples=150, deadline=None)
@given(start=instants, cal=calendars())
def test_next_open_is_open_and_nothing_before_it_is(start, cal):
    opens = next_open(start, cal)
    assert is_open(opens, cal)
    assert business_time_between(start, opens, cal) == dt.timedelta(0)
    # Compared in UTC: == between zones is always False for a time the clocks skip (PEP 495).
    assert is_open(start, cal) == (opens == start.astimezone(UTC))


@settings(max_examples=100, deadline=None)
@given(start=instants, end=instants, zone=st.sampled_from(ZONES))
def test_always_open_between_is_wall_clock(start, end, zone):
    # Subtracting in UTC: Python subtracts two datetimes of one zone as wall-clock times.
    wall_clock = end.astimezone(UTC) - start.astimezone(UTC)
    assert business_time_between(start, end, BusinessCalendar.always_open(zone)) == wall_clock


@settings(max_examples=100, deadline=None)
@given(start=instants, cal=calendars())
def test_is_open_agrees_with_reading_the_local_clock(start, cal):
    """An independent oracle: read the team's wall clock every 7 minutes for three days.

    Instants whose wall time the clocks show twice are left out: there the calendar keeps one
    stretch from the first opening to the last closing, which a clock reading cannot tell.
    """
    week = {}
    for weekday, opens, closes in cal.hours:
        week.setdefault(weekday, []).append((opens, closes))
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    for step in range(0, 3 * 24 * 60, 7):
        instant = start + step * M
        local = instant.astimezone(cal.zone)
        if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
            continue
        minute = local.hour * 60 + local.minute
        expected = local.date() not in cal.closed_dates and any(
            opens <= minute < closes for opens, closes in week.get(local.weekday(), ())
        )
        assert is_open(instant, cal) == expected, local
