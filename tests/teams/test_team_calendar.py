"""`team_calendar`: a team's rows in the database become the calendar its deadlines run on."""

import datetime as dt

import pytest

from teams.calendar import add_business_time, business_time_between, is_open, next_open
from teams.models import Holiday, Team, WorkingHours
from teams.selectors import team_calendar, teams_with_calendars
from teams.services import support_structure_setup

pytestmark = pytest.mark.django_db
UTC = dt.UTC
H = dt.timedelta(hours=1)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def teams() -> dict[str, Team]:
    support_structure_setup()
    return {team.slug: team for team in teams_with_calendars()}


@pytest.mark.parametrize(
    ("slug", "winter", "summer"),
    [
        # 08:00 in Amsterdam: 07:00 UTC on CET, 06:00 UTC on CEST.
        ("datacenter-ams", at(2026, 1, 12, 7), at(2026, 7, 13, 6)),
        # 08:00 in New York: 13:00 UTC on EST, 12:00 UTC on EDT.
        ("datacenter-mia", at(2026, 1, 12, 13), at(2026, 7, 13, 12)),
    ],
)
def test_a_data_center_opens_at_0800_local_in_winter_and_summer(teams, slug, winter, summer):
    cal = team_calendar(teams[slug])
    assert next_open(at(2026, 1, 12, 0), cal) == winter
    assert next_open(at(2026, 7, 13, 0), cal) == summer
    assert is_open(winter, cal)
    assert not is_open(winter - dt.timedelta(seconds=1), cal)
    assert business_time_between(winter, winter + 24 * H, cal) == 9 * H


def test_amsterdam_hours_across_the_spring_change(teams):
    cal = team_calendar(teams["datacenter-ams"])
    friday = at(2026, 3, 27, 15, 30)  # 16:30 CET, half an hour before closing
    due = add_business_time(friday, H, cal)
    assert due == at(2026, 3, 30, 6, 30)  # Monday 08:30 CEST
    assert business_time_between(friday, due, cal) == H


def test_new_york_hours_across_the_spring_change(teams):
    cal = team_calendar(teams["datacenter-mia"])
    friday = at(2026, 3, 6, 21, 30)  # 16:30 EST
    due = add_business_time(friday, H, cal)
    assert due == at(2026, 3, 9, 12, 30)  # Monday 08:30 EDT
    # In the weeks between the two changes the two sites are five hours apart, not six.
    ams = team_calendar(teams["datacenter-ams"])
    monday = at(2026, 3, 23)
    assert next_open(monday, cal) - next_open(monday, ams) == 5 * H
    # (13 April: 6 April is Easter Monday, a public holiday in Amsterdam.)
    assert next_open(at(2026, 4, 13), cal) - next_open(at(2026, 4, 13), ams) == 6 * H


def test_billing_friday_1755_plus_two_hours_is_monday_1055_cet(teams):
    cal = team_calendar(teams["billing"])
    assert add_business_time(at(2026, 1, 16, 16, 55), 2 * H, cal) == at(2026, 1, 19, 9, 55)


def test_support_is_the_wall_clock(teams):
    cal = team_calendar(teams["support"])
    start = at(2026, 3, 28, 23, 59)
    assert add_business_time(start, 50 * H, cal) == start + 50 * H


def test_a_holiday_row_closes_the_team():
    support_structure_setup()
    Holiday.objects.create(
        team=Team.objects.get(slug="datacenter-ams"), date=dt.date(2026, 1, 13), name="Move"
    )
    cal = team_calendar(teams_with_calendars().get(slug="datacenter-ams"))
    assert not is_open(at(2026, 1, 13, 10), cal)
    assert next_open(at(2026, 1, 12, 16), cal) == at(2026, 1, 14, 7)


def test_the_public_holidays_of_the_team_country_close_it():
    support_structure_setup()
    Team.objects.filter(slug="datacenter-ams").update(holiday_country="NL")
    Team.objects.filter(slug="datacenter-mia").update(
        holiday_country="US", holiday_subdivision="FL"
    )
    teams = {team.slug: team for team in teams_with_calendars()}

    ams = team_calendar(teams["datacenter-ams"])
    # King's Day, Monday 27 April 2026.
    assert not is_open(at(2026, 4, 27, 10), ams)
    assert next_open(at(2026, 4, 26), ams) == at(2026, 4, 28, 6)
    mia = team_calendar(teams["datacenter-mia"])
    # Independence Day falls on a Saturday: observed on Friday 3 July.
    assert not is_open(at(2026, 7, 3, 15), mia)
    assert is_open(at(2026, 7, 2, 15), mia)
    # Billing has no country set: open on both days.
    billing = team_calendar(teams["billing"])
    assert is_open(at(2026, 4, 27, 10), billing)


def test_public_holidays_only_within_the_years_asked_for():
    support_structure_setup()
    Team.objects.filter(slug="datacenter-ams").update(holiday_country="NL")
    team = teams_with_calendars().get(slug="datacenter-ams")
    kings_day_2027 = at(2027, 4, 27, 10)  # a Tuesday
    assert not is_open(kings_day_2027, team_calendar(team))
    assert is_open(kings_day_2027, team_calendar(team, years=range(2026, 2027)))


def test_a_prefetched_team_costs_no_query(django_assert_num_queries):
    support_structure_setup()
    teams = list(teams_with_calendars())
    with django_assert_num_queries(0):
        for team in teams:
            team_calendar(team)
    plain = Team.objects.get(slug="billing")
    with django_assert_num_queries(2):
        team_calendar(plain)


def test_an_edited_team_gets_a_new_calendar():
    support_structure_setup()
    before = team_calendar(teams_with_calendars().get(slug="billing"))
    WorkingHours.objects.create(
        team=Team.objects.get(slug="billing"), weekday=5, start=dt.time(10), end=dt.time(14)
    )
    after = team_calendar(teams_with_calendars().get(slug="billing"))
    saturday = at(2026, 1, 17, 11)
    assert not is_open(saturday, before)
    assert is_open(saturday, after)
    assert before != after
