"""Reads of escalation that the use cases and interfaces share: what the routing rules need,
the first line's load, pending approvals, a ticket's escalations and consultations."""

import datetime
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Min, QuerySet

from core.versioned import Versioned
from escalation import routing
from escalation.models import (
    ApprovalRequest,
    Consultation,
    Escalation,
    OverflowPolicy,
    RoutingRule,
)
from sla.models import Clock
from sla.policy import Metric
from teams.models import Team
from teams.selectors import team_calendar, teams_with_calendars

log = logging.getLogger(__name__)


def rules_active() -> list[routing.Rule]:
    """The active routing rules, in order, as the pure rule engine reads them (one query)."""
    return [
        routing.Rule(
            id=rule.pk,
            categories=frozenset(rule.categories or ()),
            words=rule.word_list,
            sites=frozenset(rule.sites or ()),
            target=rule.target,
            reason=rule.reason,
            team=rule.team.slug if rule.team_id else "",
            approval_kind=rule.approval_kind,
            route_directly=rule.route_directly,
        )
        for rule in RoutingRule.objects.filter(active=True).select_related("team")
    ]


def teams_facts() -> dict[str, routing.TeamFacts]:
    """Every active team with its calendar (three queries)."""
    facts = {}
    for team in teams_with_calendars(Team.objects.filter(active=True)):
        facts[team.slug] = routing.TeamFacts(
            slug=team.slug,
            calendar=team_calendar(team),
            site=team.site,
            datacenter=team.kind == Team.Kind.DATACENTER,
        )
    return facts


def overflowing_now() -> bool:
    return OverflowPolicy.objects.filter(pk=1, enabled=True, active_since__isnull=False).exists()


# What every new request is routed with: read from the database once per process and kept until
# a rule, a team or its hours change (`escalation.signals`), so that opening a ticket costs one
# cache read for routing, not five queries.
ROUTING_VERSION_KEY = "routing:version"
OVERFLOWING_KEY = "routing:overflowing"


@dataclass(frozen=True)
class RoutingInputs:
    rules: tuple[routing.Rule, ...]
    teams: dict[str, routing.TeamFacts]
    overflowing: bool


routing_rules_and_teams = Versioned(
    ROUTING_VERSION_KEY, lambda: (tuple(rules_active()), teams_facts())
)


def routing_inputs() -> RoutingInputs:
    rules, teams = routing_rules_and_teams.get()
    return RoutingInputs(rules=rules, teams=teams, overflowing=overflowing())


def overflowing() -> bool:
    """The overflow's state as the last measure shared it; the database when the cache has
    none (expired, or Redis down)."""
    try:
        shared = cache.get(OVERFLOWING_KEY)
    except Exception:  # the cache's connection errors
        log.warning("overflow state read without the cache", exc_info=True)
        return overflowing_now()
    if shared is None:
        shared = overflowing_now()
        try:
            cache.set(OVERFLOWING_KEY, shared, timeout=OVERFLOW_FLAG_SECONDS)
        except Exception:  # shared next time
            log.warning("could not share the overflow state", exc_info=True)
    return bool(shared)


# The flag is set by every overflow measure (each sweep); this only bounds how long a flag
# written before a crash can outlive the sweep that would have renewed it.
OVERFLOW_FLAG_SECONDS = 120


def approvals_pending() -> QuerySet[ApprovalRequest]:
    """The management queue: oldest request first."""
    return (
        ApprovalRequest.objects.filter(state=ApprovalRequest.State.PENDING)
        .select_related("ticket__team", "ticket__customer", "requested_by")
        .order_by("requested_at", "id")
    )


def escalations_of(ticket_id: int) -> QuerySet[Escalation]:
    return Escalation.objects.filter(ticket_id=ticket_id).select_related(
        "from_team", "to_team", "by", "rule"
    )


def consultations_of(ticket_id: int) -> QuerySet[Consultation]:
    return Consultation.objects.filter(ticket_id=ticket_id).select_related(
        "team", "asked_by", "answered_by"
    )


def first_line_load(*, now: datetime.datetime) -> routing.Load:
    """Requests of the first line still waiting for a person's first reply, and how long the
    oldest has waited: one aggregate over the running first-response clocks."""
    waiting = Clock.objects.filter(
        metric=Metric.FIRST_RESPONSE,
        met_at__isnull=True,
        cancelled_at__isnull=True,
        ticket__team__slug=routing.FIRST_LINE_TEAM,
    ).aggregate(count=Count("id"), oldest=Min("started_at"))
    oldest = waiting["oldest"]
    wait = int((now - oldest).total_seconds()) if oldest is not None else 0
    return routing.Load(unanswered=waiting["count"], oldest_wait_seconds=max(wait, 0))
