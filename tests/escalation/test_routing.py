"""The routing rules as a pure function (escalation.routing): facts, rules, calendars and load
in, a decision out. No database."""

import datetime

import pytest

from escalation.routing import (
    FIRST_LINE_TEAM,
    Load,
    OverflowThresholds,
    Rule,
    TeamFacts,
    TicketFacts,
    overflowing_after,
    route,
)
from teams.calendar import BusinessCalendar

WEEKDAYS_8_TO_22 = BusinessCalendar(
    "Europe/Rome", tuple((day, 8 * 60, 22 * 60) for day in range(5))
)
TEAMS = {
    "support": TeamFacts("support", BusinessCalendar.always_open()),
    "sysadmin": TeamFacts("sysadmin", WEEKDAYS_8_TO_22),
    "billing": TeamFacts("billing", WEEKDAYS_8_TO_22),
    "datacenter-ams": TeamFacts("datacenter-ams", WEEKDAYS_8_TO_22, site="ams", datacenter=True),
}
MONDAY_NOON = datetime.datetime(2026, 3, 2, 11, 0, tzinfo=datetime.UTC)
SUNDAY_NOON = datetime.datetime(2026, 3, 1, 11, 0, tzinfo=datetime.UTC)

VPS = Rule(1, frozenset({"vps", "dedicated"}), (), frozenset(), "team", "server", team="sysadmin")
REFUNDS = Rule(
    2,
    frozenset({"billing"}),
    ("refund", "rimborso"),
    frozenset(),
    "team",
    "billing",
    team="billing",
)
ON_SITE = Rule(3, frozenset({"datacenter"}), (), frozenset(), "site_datacenter", "on_site")
CREDITS = Rule(
    4,
    frozenset({"billing_credit"}),
    (),
    frozenset(),
    "approval",
    "approval",
    approval_kind="billing_credit",
)
RULES = (REFUNDS, ON_SITE, CREDITS, VPS)


def decide(category, subject="", body="", site="", rules=RULES, overflowing=False, now=MONDAY_NOON):
    return route(
        TicketFacts(category, subject, body, site), rules, TEAMS, overflowing=overflowing, now=now
    )


def test_without_a_matching_rule_the_first_line_keeps_it():
    decision = decide("access", "I cannot log in")

    assert decision.team == FIRST_LINE_TEAM
    assert not decision.routed and decision.rule is None and not decision.suggested_team


def test_a_rule_suggests_and_the_first_line_keeps_first_contact():
    decision = decide("vps", "Il mio VPS funziona lentamente")

    assert (decision.team, decision.suggested_team, decision.reason) == (
        "support",
        "sysadmin",
        "server",
    )
    assert not decision.routed


def test_a_double_charge_stays_with_the_first_line_a_refund_is_suggested_to_billing():
    assert decide("billing", "Perché mi è stato addebitato due volte?").rule is None
    assert decide("billing", "Chiedo il RIMBORSO").suggested_team == "billing"


def test_on_site_work_goes_to_the_data_center_of_the_servers_site():
    assert decide("datacenter", "Replace a disk", site="ams").suggested_team == "datacenter-ams"
    # No site, or a site without a data-center team: the rule has nowhere to send it.
    assert decide("datacenter", "Replace a disk").rule is None
    assert decide("datacenter", "Replace a disk", site="mia").rule is None


def test_credits_need_management_approval():
    decision = decide("billing_credit", "Credit for the outage")

    assert decision.approval_kind == "billing_credit"
    assert decision.team == "support" and not decision.routed


def test_rules_are_read_in_order_the_first_that_matches_decides():
    any_vps_to_billing = Rule(
        9, frozenset({"vps"}), (), frozenset(), "team", "complex", team="billing"
    )

    assert decide("vps", rules=(any_vps_to_billing, VPS)).suggested_team == "billing"
    assert decide("vps", rules=(VPS, any_vps_to_billing)).suggested_team == "sysadmin"


def test_a_rule_that_routes_directly_moves_the_request_at_once():
    direct = Rule(1, frozenset({"vps"}), (), frozenset(), "team", "server", "sysadmin", "", True)

    decision = decide("vps", rules=(direct,), now=SUNDAY_NOON)

    assert (decision.team, decision.routed, decision.kind) == ("sysadmin", True, "rule")


def test_at_high_load_specialist_work_goes_to_the_team_when_it_is_at_work():
    at_work = decide("vps", overflowing=True, now=MONDAY_NOON)
    assert (at_work.team, at_work.routed, at_work.kind, at_work.reason) == (
        "sysadmin",
        True,
        "overflow",
        "high_volume",
    )
    # Closed on Sunday: the first line keeps it, with the suggestion.
    closed = decide("vps", overflowing=True, now=SUNDAY_NOON)
    assert (closed.team, closed.routed, closed.suggested_team) == ("support", False, "sysadmin")
    # Approvals never overflow: management does not own requests.
    assert not decide("billing_credit", overflowing=True).routed


THRESHOLDS = OverflowThresholds(
    start_unanswered=10, start_wait_seconds=300, stop_unanswered=4, stop_wait_seconds=120
)


@pytest.mark.parametrize(
    ("load", "was", "after"),
    [
        (Load(9, 299), False, False),
        (Load(10, 0), False, True),
        (Load(0, 300), False, True),
        # Between the two thresholds the state holds: no flapping around one number.
        (Load(7, 200), True, True),
        (Load(7, 200), False, False),
        (Load(4, 121), True, True),
        (Load(4, 120), True, False),
    ],
)
def test_the_overflow_starts_and_stops_at_different_thresholds(load, was, after):
    assert overflowing_after(load, THRESHOLDS, was=was) is after
