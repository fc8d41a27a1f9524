"""Where a new request goes: a pure function of its facts, the routing rules, the teams'
calendars and the load of the first line, with `now` as an argument. No ORM, no clock.

The guide, phase 2: "Il nostro team legge la richiesta". The first line is open 24/7, reads
every new request first and so keeps the 10-minute first-response promise at any hour; a rule
that matches only suggests the specialists who can solve it best, unless an admin told the rule
to route directly, or the first line is overloaded and the rule's team is at work now ("inviamo
la richiesta agli esperti disponibili").
"""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from teams import calendar
from teams.calendar import BusinessCalendar

FIRST_LINE_TEAM = "support"

TARGET_TEAM = "team"
TARGET_SITE_DATACENTER = "site_datacenter"
TARGET_APPROVAL = "approval"

REASON_HIGH_VOLUME = "high_volume"


@dataclass(frozen=True)
class TicketFacts:
    category: str
    subject: str
    body: str
    site: str = ""


@dataclass(frozen=True)
class Rule:
    id: int
    categories: frozenset[str]
    words: tuple[str, ...]
    sites: frozenset[str]
    target: str
    reason: str
    team: str = ""
    approval_kind: str = ""
    route_directly: bool = False

    def matches(self, facts: TicketFacts) -> bool:
        if self.categories and facts.category not in self.categories:
            return False
        if self.sites and facts.site not in self.sites:
            return False
        if self.words:
            text = f"{facts.subject}\n{facts.body}".casefold()
            return any(word.casefold() in text for word in self.words)
        return True


@dataclass(frozen=True)
class TeamFacts:
    slug: str
    calendar: BusinessCalendar | None
    site: str = ""
    datacenter: bool = False


@dataclass(frozen=True)
class Decision:
    """Where the request starts (`team`), and what the rules suggest for it. `routed` is true
    when it starts with the specialists rather than the first line (`kind`: rule or
    overflow); otherwise `suggested_team` or `approval_kind` is advice for the desk."""

    team: str
    reason: str = ""
    rule: int | None = None
    suggested_team: str = ""
    approval_kind: str = ""
    routed: bool = False
    kind: str = ""


def _target_team(rule: Rule, facts: TicketFacts, teams: Mapping[str, TeamFacts]) -> str:
    """The slug of the team a rule sends to, "" when it has none for these facts (no site
    given, no data-center team at that site, a team that no longer exists)."""
    if rule.target == TARGET_TEAM:
        return rule.team if rule.team in teams else ""
    if rule.target == TARGET_SITE_DATACENTER and facts.site:
        for team in teams.values():
            if team.datacenter and team.site == facts.site:
                return team.slug
    return ""


def open_now(team: TeamFacts, now: datetime.datetime) -> bool:
    """At work now; a team without working hours never is."""
    if team.calendar is None:
        return False
    try:
        return calendar.is_open(now, team.calendar)
    except calendar.AlwaysClosedError:
        return False


def route(
    facts: TicketFacts,
    rules: Sequence[Rule],
    teams: Mapping[str, TeamFacts],
    *,
    overflowing: bool,
    now: datetime.datetime,
) -> Decision:
    """The first rule that matches and has somewhere to send these facts decides; without one
    the request stays with the first line."""
    for rule in rules:
        if not rule.matches(facts):
            continue
        if rule.target == TARGET_APPROVAL:
            return Decision(
                team=FIRST_LINE_TEAM,
                reason=rule.reason,
                rule=rule.id,
                approval_kind=rule.approval_kind,
            )
        target = _target_team(rule, facts, teams)
        if not target or target == FIRST_LINE_TEAM:
            continue
        suggestion = Decision(
            team=FIRST_LINE_TEAM, reason=rule.reason, rule=rule.id, suggested_team=target
        )
        if rule.route_directly:
            return Decision(
                team=target,
                reason=rule.reason,
                rule=rule.id,
                suggested_team=target,
                routed=True,
                kind="rule",
            )
        if overflowing and open_now(teams[target], now):
            return Decision(
                team=target,
                reason=REASON_HIGH_VOLUME,
                rule=rule.id,
                suggested_team=target,
                routed=True,
                kind="overflow",
            )
        return suggestion
    return Decision(team=FIRST_LINE_TEAM)


@dataclass(frozen=True)
class Load:
    """The first line's queue: requests waiting for a first reply, and how long the oldest
    has waited."""

    unanswered: int
    oldest_wait_seconds: int


@dataclass(frozen=True)
class OverflowThresholds:
    start_unanswered: int
    start_wait_seconds: int
    stop_unanswered: int
    stop_wait_seconds: int


def overflowing_after(load: Load, thresholds: OverflowThresholds, *, was: bool) -> bool:
    """Whether the first line counts as overloaded after this measure. It starts when either
    the queue or the oldest wait reaches its start threshold, and stops only when both are
    back at their (lower) stop thresholds: a load between the two keeps the state it had."""
    if not was:
        return (
            load.unanswered >= thresholds.start_unanswered
            or load.oldest_wait_seconds >= thresholds.start_wait_seconds
        )
    return not (
        load.unanswered <= thresholds.stop_unanswered
        and load.oldest_wait_seconds <= thresholds.stop_wait_seconds
    )
