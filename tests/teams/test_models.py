"""The support structure's data model, proved against the database itself."""

import contextlib
import datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from teams.models import Holiday, Team, TeamMembership, WorkingHours
from tests.factories import make_agent, make_team, make_ticket

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def refused():
    """Expect the database to refuse the write; the savepoint keeps the test's transaction usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


def hours(team: Team, weekday: int, start: str, end: str) -> WorkingHours:
    return WorkingHours.objects.create(
        team=team,
        weekday=weekday,
        start=datetime.time.fromisoformat(start),
        end=datetime.time.fromisoformat(end),
    )


# --- Team -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", Team.Kind.values)
def test_every_kind_of_team_is_accepted(kind):
    make_team(slug=kind, kind=kind, site="ams" if kind == Team.Kind.DATACENTER else "", hours=())


def test_an_unknown_kind_is_refused():
    with refused():
        make_team(slug="marketing", kind="marketing", hours=())


def test_teams_are_listed_by_tier_with_management_last():
    make_team(slug="management", kind=Team.Kind.MANAGEMENT, tier=None, hours=())
    make_team(slug="sysadmin", kind=Team.Kind.SYSADMIN, tier=3, hours=())
    make_team(slug="support", hours=())
    make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())

    assert list(Team.objects.values_list("slug", flat=True)) == [
        "support",
        "billing",
        "sysadmin",
        "management",
    ]


@pytest.mark.parametrize("tier", [1, 2, 3, None])
def test_tiers_are_1_to_3_or_none(tier):
    make_team(slug="any", tier=tier, hours=())


@pytest.mark.parametrize("tier", [0, 4])
def test_a_tier_outside_1_to_3_is_refused(tier):
    with refused():
        make_team(slug="any", tier=tier, hours=())


def test_a_datacenter_team_needs_a_site():
    with refused():
        make_team(slug="datacenter", kind=Team.Kind.DATACENTER, tier=2, site="", hours=())
    make_team(slug="datacenter-ams", kind=Team.Kind.DATACENTER, tier=2, site="ams", hours=())


def test_one_datacenter_team_per_site():
    make_team(slug="datacenter-ams", kind=Team.Kind.DATACENTER, tier=2, site="ams", hours=())

    with refused():
        make_team(slug="ams-technicians", kind=Team.Kind.DATACENTER, tier=2, site="ams", hours=())
    make_team(slug="datacenter-mia", kind=Team.Kind.DATACENTER, tier=2, site="mia", hours=())


def test_other_teams_share_the_empty_site():
    make_team(slug="support", hours=())
    make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())

    assert Team.objects.filter(site="").count() == 2


def test_team_slugs_are_unique():
    make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())

    with refused():
        make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())


# --- Working hours ----------------------------------------------------------------------------


def test_hours_must_end_after_they_start():
    team = make_team(hours=())

    with refused():
        hours(team, 0, "18:00", "09:00")
    with refused():
        hours(team, 0, "09:00", "09:00")
    hours(team, 0, "09:00", "18:00")


def test_an_end_of_0000_means_midnight_at_the_end_of_the_day():
    team = make_team(hours=())

    evening = hours(team, 4, "18:00", "00:00")
    whole_day = hours(team, 5, "00:00", "00:00")

    assert (evening.start_minute, evening.end_minute) == (18 * 60, 1440)
    assert (whole_day.start_minute, whole_day.end_minute) == (0, 1440)
    assert str(whole_day) == "Saturday 00:00-24:00"


def test_weekdays_are_0_to_6():
    team = make_team(hours=())

    hours(team, 6, "09:00", "18:00")
    with refused():
        hours(team, 7, "09:00", "18:00")


def test_a_weekday_may_have_several_ranges_but_not_two_from_the_same_start():
    team = make_team(hours=())
    hours(team, 0, "08:00", "12:00")
    hours(team, 0, "13:00", "17:00")

    with refused():
        hours(team, 0, "08:00", "10:00")


def test_the_first_line_is_open_all_week_by_default():
    team = make_team()

    assert sorted(team.working_hours.values_list("weekday", flat=True)) == list(range(7))
    assert {(h.start_minute, h.end_minute) for h in team.working_hours.all()} == {(0, 1440)}


# --- Membership and holidays ------------------------------------------------------------------


def test_a_person_is_a_member_of_a_team_once():
    team = make_team(hours=())
    agent = make_agent(teams=(team,))

    with refused():
        TeamMembership.objects.create(team=team, user=agent)


def test_a_person_may_belong_to_several_teams():
    support = make_team(hours=())
    billing = make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())

    agent = make_agent(teams=(support, billing))

    assert set(agent.support_teams.values_list("slug", flat=True)) == {"support", "billing"}


def test_a_holiday_is_recorded_once_per_team_and_day():
    support = make_team(hours=())
    billing = make_team(slug="billing", kind=Team.Kind.BILLING, tier=2, hours=())
    christmas = datetime.date(2026, 12, 25)
    Holiday.objects.create(team=billing, date=christmas, name="Christmas")
    Holiday.objects.create(team=support, date=christmas, name="Christmas")

    with refused():
        Holiday.objects.create(team=billing, date=christmas, name="Christmas again")


def test_a_teams_hours_members_and_holidays_go_with_it():
    team = make_team(slug="billing", kind=Team.Kind.BILLING, tier=2)
    make_agent(teams=(team,))
    Holiday.objects.create(team=team, date=datetime.date(2026, 12, 25))

    team.delete()

    assert not WorkingHours.objects.filter(team_id=team.pk).exists()
    assert not TeamMembership.objects.filter(team_id=team.pk).exists()
    assert not Holiday.objects.filter(team_id=team.pk).exists()


def test_a_team_that_owns_tickets_cannot_be_deleted():
    ticket = make_ticket()

    with pytest.raises(ProtectedError):
        ticket.team.delete()
