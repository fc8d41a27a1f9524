"""Writes of escalation, this room only: the records of escalations, consultations and
approvals, the default routing rules of the guide, the overflow's state. The use cases (`usecases.escalation`) compose them with the thread and the
clocks in one transaction."""

import datetime
import functools
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core.errors import Conflict
from escalation import routing
from escalation.models import (
    ApprovalKind,
    ApprovalRequest,
    Consultation,
    Escalation,
    OverflowPeriod,
    OverflowPolicy,
    Reason,
    RoutingRule,
)
from escalation.selectors import OVERFLOW_FLAG_SECONDS, OVERFLOWING_KEY
from teams.models import Team, TeamMembership
from tickets.models import Category, Message, Ticket

log = logging.getLogger(__name__)


def escalation_record(
    *,
    ticket: Ticket,
    from_team: Team,
    to_team: Team,
    kind: str,
    reason: str,
    now: datetime.datetime,
    by: AbstractBaseUser | None = None,
    rule_id: int | None = None,
) -> Escalation:
    return Escalation.objects.create(
        ticket=ticket,
        from_team=from_team,
        to_team=to_team,
        kind=kind,
        reason=reason,
        by=by,
        rule_id=rule_id,
        at=now,
    )


def overflow_routed() -> None:
    """One more request sent to the specialists by the overflow now in course."""
    OverflowPeriod.objects.filter(ended_at__isnull=True).update(routed=F("routed") + 1)


def consultation_open(
    *, ticket: Ticket, team: Team, asked_by: AbstractBaseUser, note: str, now: datetime.datetime
) -> Consultation:
    try:
        with transaction.atomic():
            return Consultation.objects.create(
                ticket=ticket, team=team, note=note, asked_by=asked_by, asked_at=now
            )
    except IntegrityError as exc:
        raise Conflict(
            _("The %(team)s team has already been asked about this ticket.") % {"team": team.name},
            code="already_consulted",
        ) from exc


def consultations_answer(
    *, ticket: Ticket, author: AbstractBaseUser, message: Message, now: datetime.datetime
) -> list[Consultation]:
    """An internal note by a member of a consulted team answers that team's open
    consultations of the ticket; returns those it answered."""
    my_teams = TeamMembership.objects.filter(user_id=author.pk).values("team_id")
    open_ones = list(
        Consultation.objects.filter(
            ticket=ticket, state=Consultation.State.OPEN, team_id__in=my_teams
        )
        .exclude(team_id=ticket.team_id)
        .select_related("team", "asked_by")
    )
    if open_ones:
        Consultation.objects.filter(pk__in=[c.pk for c in open_ones]).update(
            state=Consultation.State.ANSWERED,
            answer=message,
            answered_by=author,
            answered_at=now,
        )
    return open_ones


def approval_open(
    *,
    ticket: Ticket,
    kind: str,
    reason: str,
    requested_by: AbstractBaseUser,
    now: datetime.datetime,
    amount: Decimal | None = None,
    currency: str = "",
) -> ApprovalRequest:
    try:
        with transaction.atomic():
            return ApprovalRequest.objects.create(
                ticket=ticket,
                kind=kind,
                amount=amount,
                currency=currency if amount is not None else "",
                reason=reason,
                requested_by=requested_by,
                requested_at=now,
            )
    except IntegrityError as exc:
        raise Conflict(
            _("This ticket already waits for a management decision."), code="approval_pending"
        ) from exc


def approval_close(
    *,
    approval: ApprovalRequest,
    state: str,
    now: datetime.datetime,
    by: AbstractBaseUser | None = None,
    note: str = "",
) -> bool:
    """Decide (or withdraw) a pending request, once: a conditional UPDATE, so that a second
    decision finds nothing to change. Returns whether this call decided it."""
    decided = ApprovalRequest.objects.filter(
        pk=approval.pk, state=ApprovalRequest.State.PENDING
    ).update(state=state, decided_by=by, decided_at=now, note=note)
    if decided:
        approval.state, approval.decided_by, approval.decided_at, approval.note = (
            state,
            by,
            now,
            note,
        )
    return bool(decided)


# --- The guide's routing, as default rules ------------------------------------------------


@dataclass(frozen=True)
class RuleDefault:
    name: str
    target: str
    reason: str
    categories: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    team: str = ""
    approval_kind: str = ""


# The guide's table and its reasons to escalate. None routes directly: the first line keeps
# first contact (example 1, a double charge, is solved by it), and admins may choose otherwise
# per rule.
DEFAULT_RULES = (
    RuleDefault(
        "Credits for a service interruption",
        RoutingRule.Target.APPROVAL,
        Reason.APPROVAL,
        categories=(Category.BILLING_CREDIT,),
        approval_kind=ApprovalKind.BILLING_CREDIT,
    ),
    RuleDefault(
        "Account exceptions",
        RoutingRule.Target.APPROVAL,
        Reason.APPROVAL,
        categories=(Category.ACCOUNT_EXCEPTION,),
        approval_kind=ApprovalKind.ACCOUNT_EXCEPTION,
    ),
    RuleDefault(
        "Refunds and payment gateway problems",
        RoutingRule.Target.TEAM,
        Reason.BILLING,
        categories=(Category.BILLING,),
        words=(
            "refund",
            "rimborso",
            "rimborsare",
            "chargeback",
            "payment gateway",
            "gateway di pagamento",
        ),
        team="billing",
    ),
    RuleDefault(
        "On-site work at the data center",
        RoutingRule.Target.SITE_DATACENTER,
        Reason.ON_SITE,
        categories=(Category.DATACENTER,),
    ),
    RuleDefault(
        "Hardware at the data center",
        RoutingRule.Target.SITE_DATACENTER,
        Reason.ON_SITE,
        categories=(Category.DEDICATED, Category.NETWORK),
        words=(
            "disk",
            "disco",
            "hardware",
            "power supply",
            "alimentatore",
            "cable",
            "cavo",
            "rack",
            "kvm",
            "ram module",
        ),
    ),
    RuleDefault(
        "Custom configuration and firewall rule sets",
        RoutingRule.Target.TEAM,
        Reason.COMPLEX,
        categories=(Category.CUSTOM_CONFIG,),
        team="sysadmin",
    ),
    RuleDefault(
        "Firewall rule sets on a server",
        RoutingRule.Target.TEAM,
        Reason.COMPLEX,
        categories=(Category.VPS, Category.DEDICATED, Category.NETWORK),
        words=("firewall", "iptables", "nftables", "custom configuration", "configurazione"),
        team="sysadmin",
    ),
    RuleDefault(
        "VPS and dedicated server problems",
        RoutingRule.Target.TEAM,
        Reason.SERVER,
        categories=(Category.VPS, Category.DEDICATED),
        team="sysadmin",
    ),
)


def routing_rules_setup(*, defaults=DEFAULT_RULES) -> int:
    """Create the guide's rules that are missing (by name), after those an admin made; never
    change one. Returns how many were created."""
    with transaction.atomic():
        have = set(RoutingRule.objects.values_list("name", flat=True))
        teams = {team.slug: team for team in Team.objects.all()}
        position = max(RoutingRule.objects.values_list("position", flat=True), default=0)
        created = 0
        for default in defaults:
            if default.name in have:
                continue
            if default.team and default.team not in teams:
                continue
            position += 10
            RoutingRule.objects.create(
                position=position,
                name=default.name,
                categories=list(default.categories),
                words="\n".join(default.words),
                target=default.target,
                team=teams.get(default.team),
                approval_kind=default.approval_kind,
                reason=default.reason,
            )
            created += 1
    return created


# --- The overflow of the first line -------------------------------------------------------


def _overflow_flag_set(on: bool) -> None:
    try:
        cache.set(OVERFLOWING_KEY, on, timeout=OVERFLOW_FLAG_SECONDS)
    except Exception:  # Redis down: the flag expires, new requests read the database
        log.warning("could not share the overflow state", exc_info=True)


def overflow_update(*, load: routing.Load, now: datetime.datetime) -> bool:
    """Record this measure of the first line's load; returns whether it overflows now. Starts
    and ends an OverflowPeriod when the state changes (hysteresis in the pure rule); a policy
    switched off ends any overflow. The policy row is locked, so two sweeps never both start
    a period."""
    with transaction.atomic():
        OverflowPolicy.objects.get_or_create(pk=1)
        policy = OverflowPolicy.objects.select_for_update().get(pk=1)
        was = policy.active_since is not None
        thresholds = routing.OverflowThresholds(
            start_unanswered=policy.start_unanswered,
            start_wait_seconds=policy.start_wait_seconds,
            stop_unanswered=policy.stop_unanswered,
            stop_wait_seconds=policy.stop_wait_seconds,
        )
        now_on = policy.enabled and routing.overflowing_after(load, thresholds, was=was)
        if now_on and not was:
            policy.active_since = now
            policy.save(update_fields=["active_since"])
            OverflowPeriod.objects.create(
                started_at=now,
                peak_unanswered=load.unanswered,
                peak_wait_seconds=load.oldest_wait_seconds,
            )
        elif was and not now_on:
            policy.active_since = None
            policy.save(update_fields=["active_since"])
            OverflowPeriod.objects.filter(ended_at__isnull=True).update(ended_at=now)
        elif now_on:
            period = OverflowPeriod.objects.filter(ended_at__isnull=True).first()
            if period is not None and (
                load.unanswered > period.peak_unanswered
                or load.oldest_wait_seconds > period.peak_wait_seconds
            ):
                period.peak_unanswered = max(period.peak_unanswered, load.unanswered)
                period.peak_wait_seconds = max(period.peak_wait_seconds, load.oldest_wait_seconds)
                period.save(update_fields=["peak_unanswered", "peak_wait_seconds"])
        # Now and after COMMIT, as the routing inputs' version (escalation.signals).
        flag = functools.partial(_overflow_flag_set, now_on)
        flag()
        transaction.on_commit(flag)
    return now_on
