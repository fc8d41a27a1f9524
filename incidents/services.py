"""Writes of incidents, this room only: the incident and its status, public updates with their
deliveries (one row per linked ticket, the fan-out's outbox), internal notes, links, surges,
follows and credits. The use cases (`usecases.incidents`) compose them with the threads and
their clocks."""

import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, ServiceError
from incidents.models import (
    Credit,
    CreditLine,
    Delivery,
    Follow,
    Incident,
    IncidentLink,
    IncidentNote,
    IncidentUpdate,
    Status,
    Surge,
)
from incidents.selectors import DECIDED

# The order an incident goes through; it may skip a step or go back while open, and leaves
# `resolved` only when reopened on purpose.
ORDER = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED)


def incident_create(
    *,
    title: str,
    description: str,
    author: AbstractBaseUser,
    now: datetime.datetime,
    data_center: str = "",
    service: str = "",
    categories: list[str] | tuple[str, ...] = (),
    lead: AbstractBaseUser | None = None,
) -> Incident:
    return Incident.objects.create(
        title=title,
        description=description,
        data_center=data_center,
        service=service,
        categories=list(categories),
        lead=lead or author,
        started_at=now,
        created_by=author,
        updated_at=now,
    )


def incident_change(
    *,
    incident: Incident,
    title: str,
    description: str,
    data_center: str,
    service: str,
    categories: list[str],
    now: datetime.datetime,
    lead: AbstractBaseUser | None = None,
) -> Incident:
    incident.title, incident.description = title, description
    incident.data_center, incident.service, incident.categories = data_center, service, categories
    if lead is not None:
        incident.lead = lead
    incident.updated_at = now
    incident.save()
    return incident


def status_check(incident: Incident, status: str, *, reopen: bool = False) -> None:
    """Whether `incident` may take `status` now: a known status, and out of `resolved` only
    when reopened on purpose."""
    if status not in Status.values:
        raise ServiceError(_("No such status."), field="status", code="unknown_status")
    if incident.status == Status.RESOLVED and status != Status.RESOLVED and not reopen:
        raise Conflict(
            _("This incident is resolved: reopen it to change its status."), code="resolved"
        )
    if incident.status == Status.RESOLVED and status == Status.RESOLVED:
        raise Conflict(_("This incident is already resolved."), code="resolved")


def update_post(
    *,
    incident: Incident,
    body: str,
    status: str,
    author: AbstractBaseUser,
    now: datetime.datetime,
) -> tuple[IncidentUpdate, int]:
    """A public update: the incident takes its status, and one delivery is queued for every
    linked ticket, in the same transaction (the fan-out's outbox). Returns the update and how
    many deliveries it queued."""
    incident.status = status
    incident.resolved_at = now if status == Status.RESOLVED else None
    incident.updated_at = now
    incident.save(update_fields=["status", "resolved_at", "updated_at"])
    update = IncidentUpdate.objects.create(
        incident=incident, status=status, body=body, author=author, created_at=now
    )
    # One INSERT ... SELECT: a thousand linked tickets cost the request one statement, not a
    # thousand rows through Python.
    delivery, link = Delivery._meta, IncidentLink._meta
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {delivery.db_table} (update_id, ticket_id, created_at) "  # noqa: S608
            f"SELECT %s, ticket_id, %s FROM {link.db_table} WHERE incident_id = %s",
            [update.pk, connection.ops.adapt_datetimefield_value(now), incident.pk],
        )
        queued = cursor.rowcount
    return update, queued


def note_add(
    *, incident: Incident, body: str, author: AbstractBaseUser, now: datetime.datetime
) -> IncidentNote:
    incident.updated_at = now
    incident.save(update_fields=["updated_at"])
    return IncidentNote.objects.create(incident=incident, body=body, author=author, created_at=now)


def links_create(
    *,
    incident: Incident,
    ticket_ids: list[int],
    now: datetime.datetime,
    by: AbstractBaseUser | None = None,
) -> list[int]:
    """Link these tickets (already checked visible); a ticket of another incident moves to this
    one. Returns the ids newly linked here."""
    already = set(
        IncidentLink.objects.filter(incident=incident, ticket_id__in=ticket_ids).values_list(
            "ticket_id", flat=True
        )
    )
    new = [ticket_id for ticket_id in dict.fromkeys(ticket_ids) if ticket_id not in already]
    IncidentLink.objects.filter(ticket_id__in=new).delete()
    IncidentLink.objects.bulk_create(
        IncidentLink(ticket_id=ticket_id, incident=incident, linked_at=now, linked_by=by)
        for ticket_id in new
    )
    return new


def link_remove(*, incident: Incident, ticket_id: int) -> bool:
    """The ticket continues alone: it hears no more updates, those not yet delivered included."""
    removed, _counts = IncidentLink.objects.filter(incident=incident, ticket_id=ticket_id).delete()
    Delivery.objects.filter(
        update__incident=incident, ticket_id=ticket_id, delivered_at__isnull=True
    ).delete()
    return bool(removed)


def deliveries_claim(*, limit: int) -> list[Delivery]:
    """The next pending deliveries, locked (SKIP LOCKED: two workers share the work, never a
    row), oldest first, with what posting them needs. The caller posts each and marks it in
    this same transaction."""
    return list(
        Delivery.objects.filter(delivered_at__isnull=True)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("update__incident", "ticket__customer__customer_profile", "ticket__team")
        .order_by("created_at", "id")[:limit]
    )


def delivery_done(*, delivery: Delivery, message_id: int | None, now: datetime.datetime) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(delivered_at=now, message_id=message_id)


def surge_start(*, site: str, count: int, now: datetime.datetime) -> Surge | None:
    """A surge at `site` starts, once: None when one is already on."""
    try:
        with transaction.atomic():
            return Surge.objects.create(site=site, started_at=now, peak_count=count)
    except IntegrityError:
        Surge.objects.filter(site=site, ended_at__isnull=True, peak_count__lt=count).update(
            peak_count=count
        )
        return None


def surge_answer(*, surge_id: int, incident: Incident, now: datetime.datetime) -> None:
    Surge.objects.filter(pk=surge_id, incident__isnull=True).update(incident=incident)
    Surge.objects.filter(pk=surge_id, ended_at__isnull=True).update(ended_at=now)


def surges_end(*, sites: list[str], now: datetime.datetime) -> int:
    return Surge.objects.filter(site__in=sites, ended_at__isnull=True).update(ended_at=now)


def follow_record(
    *, incident: Incident, customer: AbstractBaseUser, now: datetime.datetime
) -> None:
    Follow.objects.get_or_create(
        incident=incident, customer=customer, defaults={"followed_at": now}
    )


def credit_create(
    *,
    incident: Incident,
    approval,
    rule: str,
    currency: str,
    lines: dict[int, Decimal],
    amount: Decimal | None = None,
    share_percent: Decimal | None = None,
) -> Credit:
    """A credit for the incident, waiting on `approval`, with each customer's amount on one of
    their linked tickets (`lines`: ticket id -> amount)."""
    credit = Credit.objects.create(
        incident=incident,
        approval=approval,
        rule=rule,
        amount=amount,
        share_percent=share_percent,
        currency=currency,
    )
    CreditLine.objects.bulk_create(
        CreditLine(credit=credit, ticket_id=ticket_id, amount=value)
        for ticket_id, value in lines.items()
    )
    return credit


def credit_lines_claim(*, limit: int) -> list[CreditLine]:
    """The next credit lines whose decision is to be told, locked as deliveries are."""
    return list(
        CreditLine.objects.filter(
            told_at__isnull=True,
            credit__approval__state__in=DECIDED,
        )
        .select_for_update(skip_locked=True, of=("self",))
        .select_related(
            "credit__approval",
            "credit__incident",
            "ticket__customer__customer_profile",
            "ticket__team",
        )
        .order_by("credit_id", "id")[:limit]
    )


def credit_line_told(*, line: CreditLine, now: datetime.datetime) -> None:
    CreditLine.objects.filter(pk=line.pk).update(told_at=now)
