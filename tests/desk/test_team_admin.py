"""The admin of the support structure: teams with hours, holidays and members."""

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from desk.admin.teams import TeamAdminForm
from teams.models import Team, WorkingHours
from teams.services import staff_upsert, support_structure_setup

pytestmark = pytest.mark.django_db
User = get_user_model()
CHANGELIST = reverse("admin:teams_team_changelist")
ADD = reverse("admin:teams_team_add")


@pytest.fixture
def superuser_client(client):
    support_structure_setup()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x-secret-1"))
    return client


def rows(html: str) -> dict[str, str]:
    """Changelist rows by team slug."""
    return {
        slug: row
        for row in re.findall(r"<tr>.*?</tr>", html, re.S)
        for slug in re.findall(r'<td class="field-slug">([^<]+)</td>', row)
    }


def test_the_team_list_shows_who_is_open_now_in_each_zone(superuser_client):
    # Monday 10:00 UTC: 11:00 in Europe, 05:00 in New York.
    with time_machine.travel(dt.datetime(2026, 1, 12, 10, tzinfo=dt.UTC), tick=False):
        response = superuser_client.get(CHANGELIST)

    assert response.status_code == 200
    by_slug = rows(response.content.decode())
    assert set(by_slug) == {
        "support",
        "billing",
        "datacenter-ams",
        "datacenter-mia",
        "sysadmin",
        "management",
    }
    for slug, row in by_slug.items():
        expected = "False" if slug == "datacenter-mia" else "True"
        assert re.search(rf'<td class="field-open_now"><img [^>]*alt="{expected}"', row), slug
    assert "Mon 2026-01-12 08:00 EST" in by_slug["datacenter-mia"]
    assert "Europe/Amsterdam" in by_slug["datacenter-ams"]


def test_the_team_list_costs_the_same_queries_for_any_number_of_teams(superuser_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert superuser_client.get(CHANGELIST).status_code == 200
        return len(queries)

    six = count()
    for n in range(6):
        team = Team.objects.create(
            slug=f"extra-{n}",
            name=f"Extra {n}",
            tier=3,
            kind=Team.Kind.SYSADMIN,
            timezone="Asia/Tokyo",
        )
        WorkingHours.objects.create(team=team, weekday=n, start=dt.time(9), end=dt.time(17))
    assert count() == six


def add_form(**overrides) -> dict[str, str]:
    data = {
        "slug": "night-ops",
        "name": "Night operations",
        "tier": "3",
        "kind": "sysadmin",
        "timezone": "Europe/Amsterdam",
        "site": "",
        "holiday_country": "",
        "holiday_subdivision": "",
        "active": "on",
        "working_hours-TOTAL_FORMS": "2",
        "working_hours-INITIAL_FORMS": "0",
        "working_hours-0-weekday": "0",
        "working_hours-0-start": "20:00",
        "working_hours-0-end": "00:00",
        "working_hours-1-weekday": "1",
        "working_hours-1-start": "00:00",
        "working_hours-1-end": "06:00",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_adding_a_team_with_hours_that_run_to_midnight(superuser_client):
    response = superuser_client.post(ADD, add_form())
    assert response.status_code == 302, response.context and response.context["errors"]
    team = Team.objects.get(slug="night-ops")
    assert [str(h) for h in team.working_hours.all()] == [
        "Monday 20:00-24:00",
        "Tuesday 00:00-06:00",
    ]


def test_overlapping_hours_on_one_weekday_are_refused(superuser_client):
    response = superuser_client.post(
        ADD,
        add_form(
            **{
                "working_hours-1-weekday": "0",
                "working_hours-1-start": "21:00",
                "working_hours-1-end": "22:00",
            }
        ),
    )
    assert response.status_code == 200
    assert "Working hours overlap on Monday." in response.content.decode()
    assert not Team.objects.filter(slug="night-ops").exists()


def test_hours_ending_before_they_start_are_refused(superuser_client):
    response = superuser_client.post(
        ADD, add_form(**{"working_hours-1-start": "06:00", "working_hours-1-end": "05:00"})
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "The end must be after the start (00:00 means midnight)." in html
    assert "is violated" not in html
    assert not Team.objects.filter(slug="night-ops").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "FL"}, "holiday_subdivision"),
    ],
)
def test_zones_and_holiday_calendars_must_exist(overrides, field):
    form = TeamAdminForm(data=add_form(**overrides))
    assert not form.is_valid()
    assert field in form.errors


def test_a_known_holiday_calendar_is_accepted_and_normalised():
    form = TeamAdminForm(data=add_form(holiday_country="nl"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["holiday_country"] == "NL"


def test_agents_read_teams_and_managers_edit_them(client):
    support_structure_setup()
    agent, _ = staff_upsert(username="anna", password="x-secret-1", teams=["support"])
    manager, _ = staff_upsert(
        username="max", password="x-secret-1", teams=["management"], manager=True
    )
    billing = Team.objects.get(slug="billing")
    change = reverse("admin:teams_team_change", args=[billing.pk])

    client.force_login(agent)
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(ADD).status_code == 403
    view_only = client.get(change)
    assert view_only.status_code == 200
    assert 'name="_save"' not in view_only.content.decode()

    client.force_login(manager)
    page = client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()
    assert client.get(ADD).status_code == 403


def test_the_structures_old_admin_addresses_lead_to_its_new_ones(client):
    response = client.get("/admin/escalation/team/3/change/?_changelist_filters=q%3Dx")

    assert response.status_code == 301
    assert response["Location"] == "/admin/teams/team/3/change/?_changelist_filters=q%3Dx"
