"""Reads of the SLA engine for managers and operators: breaches, compliance, what is at risk.

Every read here answers in a fixed number of queries, whatever the number of teams, clocks or
breaches; aggregates are computed by the database (PostgreSQL), with a portable fallback for
the percentiles on SQLite, the embedded single-machine default.
"""

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Extract

from sla.models import Breach, Clock, Policy
from sla.policy import DEFAULT_TARGETS, Metric, Targets
from teams.models import Team
from tickets.models import OutboundEmail

# Upper bounds of the acknowledgement latency histogram, in seconds; the promise is 60 s
# (chat) and 120 s (tickets), so the buckets are finest below them.
ACKNOWLEDGEMENT_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300)


def targets_promised() -> Targets:
    """What new requests are promised now: the current policy version, or API.md's defaults
    before `setup_support` wrote one. Read-only, unlike `sla.services.policy_current`."""
    current = Policy.objects.order_by("-version").first()
    return current.targets if current is not None else DEFAULT_TARGETS


def clocks_running() -> QuerySet[Clock]:
    """Clocks that still hold a promise (paused or not, breached or not)."""
    return Clock.objects.filter(met_at__isnull=True, cancelled_at__isnull=True)


# --- Breaches ---------------------------------------------------------------------------------


def breaches_filtered(
    *,
    team: Team | None = None,
    metric: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[Breach]:
    """Breaches detected in [since, until), newest first, with what a list of them shows."""
    breaches = Breach.objects.select_related("team", "ticket__assignee")
    if team is not None:
        breaches = breaches.filter(team=team)
    if metric:
        breaches = breaches.filter(metric=metric)
    if since is not None:
        breaches = breaches.filter(detected_at__gte=since)
    if until is not None:
        breaches = breaches.filter(detected_at__lt=until)
    return breaches.order_by("-detected_at", "-pk")


# --- Compliance per team and metric ---------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    """How one team kept one promise over a window: `total` = `met` + `breached`."""

    team: Team
    metric: str
    total: int
    met: int
    breached: int
    p50_seconds: int | None
    p90_seconds: int | None

    @property
    def compliance(self) -> float | None:
        return self.met / self.total if self.total else None


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation); NULLs are left out."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        # A constant of this module, never input: it is written into the SQL as a literal.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """The same interpolation as PostgreSQL's percentile_cont, for SQLite."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _elapsed() -> ExpressionWrapper:
    return ExpressionWrapper(F("met_at") - F("started_at"), output_field=DurationField())


def clocks_decided_in(*, since: datetime.datetime, until: datetime.datetime) -> QuerySet[Clock]:
    """Clocks whose outcome fell in [since, until): breached then (whatever came after), or
    met then without a breach. Running and cancelled promises were neither kept nor missed."""
    return Clock.objects.filter(
        Q(breached_at__gte=since, breached_at__lt=until)
        | Q(breached_at__isnull=True, met_at__gte=since, met_at__lt=until)
    )


def _seconds(value: float | None) -> int | None:
    return None if value is None else max(0, round(value))


def compliance_summary(*, since: datetime.datetime, until: datetime.datetime) -> list[Compliance]:
    """For every active team (and any other with clocks in the window) and every metric:
    promises kept and missed in [since, until), and the time to meet them (p50, p90).

    Time to meet is wall-clock time from start to met, less the time the clock was paused.
    """
    decided = clocks_decided_in(since=since, until=until).order_by()
    counts = {"total": Count("pk"), "breached": Count("pk", filter=Q(breached_at__isnull=False))}
    postgres = connection.vendor == "postgresql"
    if postgres:
        seconds = Extract(_elapsed(), "epoch") - F("paused_seconds")
        counts["p50"] = PercentileCont(seconds, fraction=0.5)
        counts["p90"] = PercentileCont(seconds, fraction=0.9)
    rows = {
        (r["team_id"], r["metric"]): r
        for r in decided.values("team_id", "metric").annotate(**counts)
    }
    if not postgres:
        _percentiles_in_python(decided, rows)
    teams = Team.objects.filter(Q(active=True) | Q(pk__in={team_id for team_id, _ in rows}))
    summary = []
    for team in teams.order_by("tier", "name"):
        for metric in Metric:
            row = rows.get((team.pk, metric.value), {})
            total, breached = row.get("total", 0), row.get("breached", 0)
            summary.append(
                Compliance(
                    team=team,
                    metric=metric.value,
                    total=total,
                    met=total - breached,
                    breached=breached,
                    p50_seconds=_seconds(row.get("p50")),
                    p90_seconds=_seconds(row.get("p90")),
                )
            )
    return summary


def _percentiles_in_python(decided: QuerySet[Clock], rows: dict) -> None:
    samples: dict[tuple[int, str], list[float]] = defaultdict(list)
    met = decided.filter(met_at__isnull=False).values_list(
        "team_id", "metric", "started_at", "met_at", "paused_seconds"
    )
    for team_id, metric, started_at, met_at, paused_seconds in met.iterator():
        samples[team_id, metric].append((met_at - started_at).total_seconds() - paused_seconds)
    for key, row in rows.items():
        row["p50"] = percentile_cont(samples.get(key, []), 0.5)
        row["p90"] = percentile_cont(samples.get(key, []), 0.9)


# --- Now: what is open and what is about to be missed ----------------------------------------


def clocks_at_risk(*, now: datetime.datetime, margin_seconds: int) -> QuerySet[Clock]:
    """Running, unpaused promises due within the margin (or just past due, before the sweep
    records them), soonest first. The acknowledgement is left out: it is automatic and the
    sweep resends it, as `sla.services.clocks_at_risk_warn` does."""
    horizon = now + datetime.timedelta(seconds=margin_seconds)
    return (
        clocks_running()
        .filter(paused_at__isnull=True, breached_at__isnull=True, due_at__lte=horizon)
        .exclude(metric=Metric.ACKNOWLEDGEMENT)
        .select_related("ticket__team", "ticket__assignee")
        .order_by("due_at", "pk")
    )


def clocks_open_counts() -> list[dict]:
    """Running clocks per team and metric: `{"team_id", "metric", "open", "paused",
    "breached"}` (breached: missed and still not met)."""
    return list(
        clocks_running()
        .order_by()
        .values("team_id", "metric")
        .annotate(
            open=Count("pk"),
            paused=Count("pk", filter=Q(paused_at__isnull=False)),
            breached=Count("pk", filter=Q(breached_at__isnull=False)),
        )
    )


# --- For the operators' /metrics ----------------------------------------------------------------


def breach_counts() -> list[dict]:
    """Every breach ever recorded, per team and metric: `{"team_id", "metric", "breaches",
    "unnotified"}` (unnotified: the managers' email is still to be written)."""
    return list(
        Breach.objects.order_by()
        .values("team_id", "metric")
        .annotate(
            breaches=Count("pk"),
            unnotified=Count("pk", filter=Q(managers_notified_at__isnull=True)),
        )
    )


def acknowledgement_latency() -> dict:
    """Cumulative bucket counts, sum and count of every acknowledgement's latency (met_at -
    started_at), aggregated by the database: `{"buckets": {le: n}, "count", "sum_seconds"}`."""
    buckets = {
        f"le_{bound}": Count(
            "pk", filter=Q(met_at__lte=F("started_at") + datetime.timedelta(seconds=bound))
        )
        for bound in ACKNOWLEDGEMENT_BUCKETS
    }
    row = Clock.objects.filter(metric=Metric.ACKNOWLEDGEMENT, met_at__isnull=False).aggregate(
        count=Count("pk"), total=Sum(_elapsed()), **buckets
    )
    return {
        "buckets": {bound: row[f"le_{bound}"] for bound in ACKNOWLEDGEMENT_BUCKETS},
        "count": row["count"],
        "sum_seconds": row["total"].total_seconds() if row["total"] else 0.0,
    }


def outbox_counts(*, now: datetime.datetime) -> dict:
    """Emails still to deliver (pending or being sent), by state, and the age of the oldest
    pending one (0 when none): read through the outbox's partial index of unsent rows."""
    unsent = (OutboundEmail.State.PENDING, OutboundEmail.State.SENDING)
    rows = (
        OutboundEmail.objects.filter(state__in=unsent)
        .order_by()
        .values("state")
        .annotate(emails=Count("pk"), oldest=Min("created_at"))
    )
    states = dict.fromkeys(unsent, 0)
    oldest = None
    for row in rows:
        states[row["state"]] = row["emails"]
        if row["state"] == OutboundEmail.State.PENDING:
            oldest = row["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return {"states": states, "oldest_pending_seconds": age}
