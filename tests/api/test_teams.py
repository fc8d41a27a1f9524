"""Teams with their working hours and whether they work now, in their own zones."""

import datetime

import time_machine

# A Saturday at noon UTC: only the 24/7 first line works.
SATURDAY_NOON = datetime.datetime(2026, 3, 7, 12, 0, tzinfo=datetime.UTC)
# A Monday, 10:00 in Rome and Amsterdam, 05:00 in Miami.
MONDAY_9_UTC = datetime.datetime(2026, 3, 9, 9, 0, tzinfo=datetime.UTC)


def teams(api, user) -> dict[str, dict]:
    response = api(user).get("/api/v1/teams/")
    assert response.status_code == 200
    return {team["slug"]: team for team in response.json()}


def test_every_team_with_its_calendar(api, customer_a):
    with time_machine.travel(SATURDAY_NOON, tick=False):
        by_slug = teams(api, customer_a)

    assert set(by_slug) == {
        "support",
        "billing",
        "datacenter-ams",
        "datacenter-mia",
        "sysadmin",
        "management",
    }
    support = by_slug["support"]
    assert {
        k: support[k] for k in ("name", "tier", "kind", "timezone", "open_now", "next_open_at")
    } == {
        "name": "Support engineers",
        "tier": 1,
        "kind": "support",
        "timezone": "UTC",
        "open_now": True,
        "next_open_at": None,
    }
    assert support["hours"] == [
        {"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)
    ]
    billing = by_slug["billing"]
    assert billing["hours"][0] == {"weekday": 0, "start": "09:00", "end": "18:00"}
    assert len(billing["hours"]) == 5
    assert billing["open_now"] is False
    # Monday 09:00 in CET (UTC+1 before the end of March).
    assert billing["next_open_at"] == "2026-03-09T08:00:00Z"
    assert by_slug["management"]["tier"] is None


def test_open_now_follows_each_teams_zone(api, agent):
    with time_machine.travel(MONDAY_9_UTC, tick=False):
        by_slug = teams(api, agent)

    assert by_slug["datacenter-ams"]["open_now"] is True
    assert by_slug["datacenter-mia"]["open_now"] is False
    # 08:00 in New York, already on summer time (EDT, UTC-4) since 8 March.
    assert by_slug["datacenter-mia"]["next_open_at"] == "2026-03-09T12:00:00Z"


def test_teams_is_a_plain_list_in_few_queries(api, customer_a, django_assert_max_num_queries):
    client = api(customer_a)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/teams/")
    assert isinstance(response.json(), list)


def test_inactive_teams_are_not_listed(api, customer_a, structure):
    structure["sysadmin"].active = False
    structure["sysadmin"].save()
    assert "sysadmin" not in teams(api, customer_a)
