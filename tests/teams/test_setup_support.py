"""`setup_support`: the default support structure of API.md, created once, never clobbered."""

import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import MANAGERS_GROUP
from teams.models import Holiday, Team, TeamMembership, WorkingHours
from teams.services import (
    AGENT_PERMISSIONS,
    AGENTS_GROUP,
    MANAGER_PERMISSIONS,
    support_structure_setup,
)

pytestmark = pytest.mark.django_db

MON_FRI = range(5)


def week(start: str, end: str, days=MON_FRI) -> list[tuple[int, str, str]]:
    return [(day, start, end) for day in days]


# API.md, "Default support structure": slug -> (name, tier, kind, zone, site, hours).
EXPECTED = {
    "support": ("Support engineers", 1, "support", "UTC", "", week("00:00", "24:00", range(7))),
    "billing": ("Billing", 2, "billing", "CET", "", week("09:00", "18:00")),
    "datacenter-ams": (
        "Data center technicians (ams)",
        2,
        "datacenter",
        "Europe/Amsterdam",
        "ams",
        week("08:00", "17:00"),
    ),
    "datacenter-mia": (
        "Data center technicians (mia)",
        2,
        "datacenter",
        "America/New_York",
        "mia",
        week("08:00", "17:00"),
    ),
    "sysadmin": ("System administrators", 3, "sysadmin", "CET", "", week("08:00", "22:00")),
    "management": ("Management", None, "management", "CET", "", week("09:00", "18:00")),
}


def hours_of(team: Team) -> list[tuple[int, str, str]]:
    return [
        (
            row.weekday,
            f"{row.start:%H:%M}",
            "24:00" if row.end_minute == 1440 else f"{row.end:%H:%M}",
        )
        for row in team.working_hours.order_by("weekday", "start")
    ]


def dump() -> dict[str, list[dict]]:
    """Every row the set-up may touch, ids and all."""
    tables = {
        "teams": Team.objects,
        "hours": WorkingHours.objects,
        "holidays": Holiday.objects,
        "memberships": TeamMembership.objects,
        "groups": Group.objects,
        "group_permissions": Group.permissions.through.objects,
    }
    return {name: list(manager.order_by("pk").values()) for name, manager in tables.items()}


def run_command() -> str:
    out = io.StringIO()
    call_command("setup_support", stdout=out)
    return out.getvalue()


def test_creates_the_six_teams_of_api_md_with_their_hours_and_zones():
    output = run_command()

    teams = {team.slug: team for team in Team.objects.all()}
    assert set(teams) == set(EXPECTED)
    for slug, (name, tier, kind, zone, site, hours) in EXPECTED.items():
        team = teams[slug]
        assert (team.name, team.tier, team.kind, team.timezone, team.site) == (
            name,
            tier,
            kind,
            zone,
            site,
        ), slug
        assert team.active
        assert hours_of(team) == hours, slug
    assert WorkingHours.objects.count() == 7 + 5 * 5
    assert "6 teams created" in output
    assert output.count("\n") == 1


def test_a_second_run_changes_no_row_and_writes_nothing():
    run_command()
    before = dump()

    with CaptureQueriesContext(connection) as queries:
        output = run_command()

    assert dump() == before
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert "nothing changed" in output


def test_what_admins_edited_is_kept_and_only_kind_and_tier_are_restored():
    support_structure_setup()
    billing = Team.objects.get(slug="billing")
    billing.working_hours.filter(weekday=4).delete()
    WorkingHours.objects.create(
        team=billing, weekday=5, start=datetime.time(10), end=datetime.time(12)
    )
    Team.objects.filter(slug="billing").update(
        name="Billing and payments", timezone="Europe/Rome", holiday_country="IT", tier=3
    )
    Team.objects.filter(slug="management").update(kind="support")
    edited_hours = hours_of(billing)

    summary = support_structure_setup()

    billing.refresh_from_db()
    assert (billing.name, billing.timezone, billing.holiday_country) == (
        "Billing and payments",
        "Europe/Rome",
        "IT",
    )
    assert billing.tier == 2
    assert hours_of(billing) == edited_hours
    assert Team.objects.get(slug="management").kind == "management"
    assert summary.teams_created == ()
    assert set(summary.teams_updated) == {"billing", "management"}
    assert summary.hours_created == 0


def test_a_missing_team_or_missing_hours_are_added_back():
    support_structure_setup()
    Team.objects.filter(slug="sysadmin").delete()
    WorkingHours.objects.filter(team__slug="billing").delete()

    summary = support_structure_setup()

    assert summary.teams_created == ("sysadmin",)
    assert summary.hours_created == 10
    assert hours_of(Team.objects.get(slug="sysadmin")) == EXPECTED["sysadmin"][5]
    assert hours_of(Team.objects.get(slug="billing")) == EXPECTED["billing"][5]


def test_a_site_served_by_a_team_under_another_slug_gets_no_second_team():
    Team.objects.create(
        slug="amsterdam-dc",
        name="Amsterdam hands",
        tier=2,
        kind=Team.Kind.DATACENTER,
        timezone="Europe/Amsterdam",
        site="ams",
    )

    summary = support_structure_setup()

    assert "datacenter-ams" not in summary.teams_created
    assert not Team.objects.filter(slug="datacenter-ams").exists()
    assert Team.objects.filter(kind=Team.Kind.DATACENTER).count() == 2


def test_staff_groups_get_their_permissions_once():
    first = support_structure_setup()
    agents = Group.objects.get(name=AGENTS_GROUP)
    managers = Group.objects.get(name=MANAGERS_GROUP)

    def codenames(group: Group) -> set[tuple[str, str]]:
        return set(group.permissions.values_list("content_type__app_label", "codename"))

    assert codenames(agents) == set(AGENT_PERMISSIONS)
    assert codenames(managers) == set(MANAGER_PERMISSIONS)
    assert first.permissions_granted == len(AGENT_PERMISSIONS) + len(MANAGER_PERMISSIONS)
    assert support_structure_setup().permissions_granted == 0
