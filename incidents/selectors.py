"""Reads of incidents that the use cases and interfaces share: the open ones (kept in memory by
every process until one changes), which one covers a new request, what the status page shows,
and each incident's figures for managers."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from core.versioned import Versioned
from escalation.models import ApprovalRequest
from incidents.models import (
    OPEN_STATUSES,
    Credit,
    CreditLine,
    Delivery,
    Follow,
    Incident,
    IncidentLink,
    IncidentUpdate,
    Status,
    Surge,
    SurgePolicy,
)
from tickets.models import Ticket

# The states of an approval that are a decision told to the customers.
DECIDED = (ApprovalRequest.State.APPROVED, ApprovalRequest.State.REJECTED)
# The status page's history: what was resolved this many days back.
HISTORY_DAYS = 90


@dataclass(frozen=True)
class Cover:
    """What a new request needs to know of an open incident to be linked to it."""

    id: int
    site: str
    categories: frozenset[str]

    def covers(self, *, category: str, site: str) -> bool:
        if self.site:
            return site == self.site and (not self.categories or category in self.categories)
        return bool(self.categories) and category in self.categories


def _covers_load() -> tuple[Cover, ...]:
    return tuple(
        Cover(id=incident.pk, site=incident.data_center, categories=frozenset(incident.categories))
        for incident in Incident.objects.filter(status__in=OPEN_STATUSES).order_by("-started_at")
    )


# Every new request asks which open incident covers it: read once per process and kept until
# an incident is saved (incidents.signals), so that opening a ticket costs one cache read.
open_covers = Versioned("incidents:version", _covers_load)


def incident_covering(*, category: str, site: str) -> int | None:
    """The open incident a new request of `category` at `site` belongs to (the newest), or None."""
    for cover in open_covers.get():
        if cover.covers(category=category, site=site):
            return cover.id
    return None


def incidents_open() -> QuerySet[Incident]:
    return Incident.objects.filter(status__in=OPEN_STATUSES)


def with_updates(incidents: QuerySet[Incident]) -> QuerySet[Incident]:
    """Incidents with their public updates, newest first, in one query more."""
    return incidents.prefetch_related(
        Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-created_at", "-id"))
    )


def incidents_listed(*, open_only: bool = False) -> QuerySet[Incident]:
    incidents = incidents_open() if open_only else Incident.objects.all()
    return with_updates(incidents.order_by("-started_at", "-id"))


def incidents_for_sites(sites: set[str]) -> QuerySet[Incident]:
    """Open incidents a customer with servers at `sites` should know of before writing: those
    of their sites, and those of no site (a platform, a service)."""
    return with_updates(
        incidents_open()
        .filter(Q(data_center__in=sites) | Q(data_center=""))
        .order_by("-started_at")
    )


def customer_sites(customer) -> set[str]:
    """The sites a customer named in their requests: what we know of where their servers are."""
    return set(
        Ticket.objects.filter(customer=customer)
        .exclude(data_center="")
        .values_list("data_center", flat=True)
        .distinct()
    )


def open_link_of(ticket_id: int) -> IncidentLink | None:
    """The ticket's link to an open incident, with the incident."""
    return (
        IncidentLink.objects.filter(ticket_id=ticket_id, incident__status__in=OPEN_STATUSES)
        .select_related("incident")
        .first()
    )


def first_ticket_per_customer(incident_id: int) -> dict[int, int]:
    """Each linked customer's first linked ticket (customer id -> ticket id): where their
    share of a credit is told."""
    first: dict[int, int] = {}
    for ticket_id, customer_id in (
        IncidentLink.objects.filter(incident_id=incident_id)
        .order_by("ticket_id")
        .values_list("ticket_id", "ticket__customer_id")
    ):
        first.setdefault(customer_id, ticket_id)
    return first


def stalled_count(*, before: datetime.datetime) -> int:
    """Deliveries of updates posted before `before`, and credit lines decided before it, not
    told yet."""
    deliveries = Delivery.objects.filter(delivered_at__isnull=True, created_at__lt=before)
    lines = CreditLine.objects.filter(
        told_at__isnull=True,
        credit__approval__state__in=DECIDED,
        credit__approval__decided_at__lt=before,
    )
    return deliveries.count() + lines.count()


def credit_lines_count(approval_id: int) -> int:
    return CreditLine.objects.filter(credit__approval_id=approval_id).count()


def latest_update(incident_id: int) -> IncidentUpdate | None:
    return (
        IncidentUpdate.objects.filter(incident_id=incident_id)
        .order_by("-created_at", "-id")
        .first()
    )


def status_page(*, now: datetime.datetime) -> tuple[list[Incident], list[Incident]]:
    """Open incidents, newest first, and those resolved in the last 90 days: two queries and
    their updates."""
    since = now - datetime.timedelta(days=HISTORY_DAYS)
    open_ones = list(incidents_listed(open_only=True))
    resolved = list(
        with_updates(
            Incident.objects.filter(status=Status.RESOLVED, resolved_at__gte=since).order_by(
                "-resolved_at", "-id"
            )
        )
    )
    return open_ones, resolved


def surge_policy() -> SurgePolicy:
    return SurgePolicy.objects.get_or_create(pk=1)[0]


def arrivals_by_site(*, since: datetime.datetime) -> dict[str, int]:
    """New requests per site since `since` that no open incident covers: one aggregate."""
    covered = IncidentLink.objects.filter(
        ticket_id=OuterRef("pk"), incident__status__in=OPEN_STATUSES
    )
    rows = (
        Ticket.objects.filter(created_at__gte=since)
        .exclude(data_center="")
        .exclude(Exists(covered))
        .values("data_center")
        .annotate(count=Count("id"))
    )
    return {row["data_center"]: row["count"] for row in rows}


def surges_open() -> QuerySet[Surge]:
    return Surge.objects.filter(ended_at__isnull=True)


@dataclass(frozen=True)
class Figures:
    tickets: int
    customers_reached: int
    updates: int
    first_update_after_seconds: int | None
    credits_decided: int
    follows: int
    wrote_anyway: int


def incident_figures(incident: Incident) -> Figures:
    """What managers read of an incident: tickets linked, how soon the first public update came,
    how many updates, how many customers an update reached, credits decided, and how many
    customers followed it instead of writing (those who wrote anyway afterwards counted)."""
    [(_incident, figures)] = figures_listed(Incident.objects.filter(pk=incident.pk))
    return figures


def ticket_counts(incident_ids: list[int]) -> dict[int, int]:
    """Linked tickets per incident, for a page of incidents: one aggregate."""
    rows = (
        IncidentLink.objects.filter(incident_id__in=incident_ids)
        .values("incident_id")
        .annotate(count=Count("ticket_id"))
    )
    return {row["incident_id"]: row["count"] for row in rows}


def _per_incident(rows: QuerySet, key: str, value) -> Subquery:
    """One figure of the incident in the outer query, as a correlated subquery (0 for none)."""
    return Coalesce(
        Subquery(
            rows.filter(**{key: OuterRef("pk")})
            .order_by()
            .values(key)
            .annotate(value=value)
            .values("value")[:1]
        ),
        0,
    )


def figures_listed(
    incidents: QuerySet[Incident], *, limit: int | None = None
) -> list[tuple[Incident, Figures]]:
    """`incident_figures` for every incident of a list (a period's, a page's; the first
    `limit`), in one query."""
    wrote_later = IncidentLink.objects.filter(
        incident_id=OuterRef("incident_id"),
        ticket__customer_id=OuterRef("customer_id"),
        ticket__created_at__gte=OuterRef("followed_at"),
    )
    first_update = (
        IncidentUpdate.objects.filter(incident_id=OuterRef("pk"))
        .order_by("created_at")
        .values("created_at")[:1]
    )
    rows = incidents.annotate(
        figure_tickets=_per_incident(IncidentLink.objects.all(), "incident", Count("ticket_id")),
        figure_reached=_per_incident(
            Delivery.objects.filter(delivered_at__isnull=False),
            "update__incident",
            Count("ticket__customer_id", distinct=True),
        ),
        figure_updates=_per_incident(IncidentUpdate.objects.all(), "incident", Count("id")),
        figure_first_update=Subquery(first_update),
        figure_credits=_per_incident(
            Credit.objects.filter(approval__state__in=DECIDED), "incident", Count("id")
        ),
        figure_follows=_per_incident(Follow.objects.all(), "incident", Count("id")),
        figure_wrote_anyway=_per_incident(
            Follow.objects.filter(Exists(wrote_later)), "incident", Count("id")
        ),
    )
    return [
        (
            incident,
            Figures(
                tickets=incident.figure_tickets,
                customers_reached=incident.figure_reached,
                updates=incident.figure_updates,
                first_update_after_seconds=(
                    int((incident.figure_first_update - incident.started_at).total_seconds())
                    if incident.figure_first_update
                    else None
                ),
                credits_decided=incident.figure_credits,
                follows=incident.figure_follows,
                wrote_anyway=incident.figure_wrote_anyway,
            ),
        )
        for incident in (rows[:limit] if limit is not None else rows)
    ]


def incidents_started(*, since: datetime.datetime, until: datetime.datetime) -> QuerySet[Incident]:
    """Incidents that started in [since, until), the latest first."""
    return Incident.objects.filter(started_at__gte=since, started_at__lt=until).order_by(
        "-started_at", "-id"
    )
