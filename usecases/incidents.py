"""The verbs of an incident: open it, post a public update (one voice in every linked thread),
write an internal note, link and unlink tickets, link a new request on arrival, notice a surge,
ask management for a credit covering the customers it hit, and count who followed it instead of
writing.

The fan-out is the worker's: posting an update writes one delivery per linked ticket in the
request's transaction and returns; `fanout_batch` then posts them, a batch per transaction,
each in its thread with its clocks and email, and marks it in the same transaction, so every
thread hears each update exactly once even when a worker dies midway.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.roles import Role, is_staff_role, managers_to_tell, staff_required, user_role
from accounts.selectors import language_of, zone_of
from core.effects import enqueue_on_commit
from core.errors import ServiceError
from core.text import text_given
from escalation import routing
from escalation import services as escalation
from escalation.models import ApprovalKind
from escalation.routing import FIRST_LINE_TEAM
from escalation.selectors import routing_inputs
from incidents import notices, selectors
from incidents import services as incidents
from incidents.models import Credit, Delivery, Incident, IncidentNote, IncidentUpdate, Surge
from incidents.models import Status as IncidentStatus
from sla.services import clocks
from teams.models import Team
from tickets import notifications
from tickets import services as tickets
from tickets.models import Category, Status, Ticket
from tickets.selectors import tickets_visible_to
from usecases.status import status_change

User = get_user_model()

# The task that fans updates and credit decisions out (jobs.tasks), enqueued by name after COMMIT.
DELIVER_TASK = "incidents.deliver"
DELIVERY_BATCH = 50
# A delivery still pending this long after its update lost its task: the watch starts another.
STALLED_SECONDS = 30
TITLE_MAX = Incident._meta.get_field("title").max_length
SERVICE_MAX = Incident._meta.get_field("service").max_length
TEXT_MAX = 20_000


def _text(value, *, field: str, message: str, limit: int = TEXT_MAX) -> str:
    value = text_given(value)
    if not value:
        raise ServiceError(message, field=field)
    if len(value) > limit:
        raise ServiceError(
            _("At most %(n)d characters.") % {"n": limit}, field=field, code="too_long"
        )
    return value


def _incident(incident_id, *, lock: bool = False) -> Incident:
    found = Incident.objects.all()
    if lock:
        found = found.select_for_update()
    try:
        return found.get(pk=incident_id)
    except (Incident.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404("No such incident.") from exc


def _site(value) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if value and not Team.objects.filter(kind=Team.Kind.DATACENTER, site=value).exists():
        raise ServiceError(_("No data center has this site code."), field="data_center")
    return value


def _service(value) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > SERVICE_MAX:
        raise ServiceError(_("At most %(n)d characters.") % {"n": SERVICE_MAX}, field="service")
    return value


def _categories(values) -> list[str]:
    if not isinstance(values, list | tuple) or any(
        value not in Category.values for value in values
    ):
        raise ServiceError(_("No such category."), field="categories")
    return list(dict.fromkeys(values))


def incident_open(
    *,
    actor: AbstractBaseUser,
    title: str,
    description: str,
    now: datetime.datetime,
    data_center: str = "",
    service: str = "",
    categories=(),
) -> Incident:
    """An outage, told in public at once: on the status page, and to every new request it
    covers (its site; its categories, if any)."""
    staff_required(actor)
    title = _text(title, field="title", message=_("Give the incident a title."), limit=TITLE_MAX)
    description = _text(
        description, field="description", message=_("Say what customers should know.")
    )
    with transaction.atomic():
        return incidents.incident_create(
            title=title,
            description=description,
            author=actor,
            now=now,
            data_center=_site(data_center),
            service=_service(service),
            categories=_categories(categories),
        )


def incident_edit(
    *,
    incident_id: int,
    actor: AbstractBaseUser,
    now: datetime.datetime,
    title: str,
    description: str,
    data_center: str = "",
    service: str = "",
    categories=(),
    lead_id: int | None = None,
) -> Incident:
    """What the incident covers and how it is presented; its status moves by public updates."""
    staff_required(actor)
    title = _text(title, field="title", message=_("Give the incident a title."), limit=TITLE_MAX)
    description = _text(
        description, field="description", message=_("Say what customers should know.")
    )
    lead = None
    if lead_id is not None:
        lead = User.objects.filter(pk=lead_id).first() if type(lead_id) is int else None
        if lead is None or not is_staff_role(user_role(lead)):
            raise ServiceError(_("The lead is one of the support staff."), field="lead")
    with transaction.atomic():
        incident = _incident(incident_id, lock=True)
        return incidents.incident_change(
            incident=incident,
            title=title,
            description=description,
            data_center=_site(data_center),
            service=_service(service),
            categories=_categories(categories),
            lead=lead,
            now=now,
        )


def incident_update(
    *,
    incident_id: int,
    actor: AbstractBaseUser,
    body: str,
    now: datetime.datetime,
    status: str | None = None,
    reopen: bool = False,
) -> IncidentUpdate:
    """A public update: on the status page at once, in every linked thread through the worker,
    where it counts as the ticket's reply and status update; `resolved` resolves every linked
    ticket with it. Out of `resolved` only with `reopen`."""
    staff_required(actor)
    body = _text(body, field="body", message=_("Say what is new."))
    with transaction.atomic():
        incident = _incident(incident_id, lock=True)
        status = status or (
            IncidentStatus.INVESTIGATING if reopen and not incident.is_open else incident.status
        )
        incidents.status_check(incident, status, reopen=reopen)
        update, queued = incidents.update_post(
            incident=incident, body=body, status=status, author=actor, now=now
        )
        fanout_start(queued)
    return update


def incident_note(
    *, incident_id: int, actor: AbstractBaseUser, body: str, now: datetime.datetime
) -> IncidentNote:
    """For the staff working the incident only."""
    staff_required(actor)
    body = _text(body, field="body", message=_("The note is empty."))
    with transaction.atomic():
        return incidents.note_add(
            incident=_incident(incident_id, lock=True), body=body, author=actor, now=now
        )


def tickets_link(
    *, incident_id: int, actor: AbstractBaseUser, ticket_ids, now: datetime.datetime
) -> list[int]:
    """Link tickets, all or nothing: an unknown id, or one the agent may not see, links none.
    A ticket linked to another incident moves here. Returns the ids newly linked."""
    staff_required(actor)
    if (
        not isinstance(ticket_ids, list | tuple)
        or not ticket_ids
        or any(type(ticket_id) is not int or ticket_id < 1 for ticket_id in ticket_ids)
    ):
        raise ServiceError(_("Give a list of ticket ids."), field="tickets")
    wanted = set(ticket_ids)
    with transaction.atomic():
        incident = _incident(incident_id, lock=True)
        found = set(tickets_visible_to(actor).filter(pk__in=wanted).values_list("pk", flat=True))
        if found != wanted:
            raise ServiceError(
                _("No such ticket: %(ids)s. Nothing was linked.")
                % {"ids": ", ".join(str(i) for i in sorted(wanted - found))},
                field="tickets",
                code="unknown_ticket",
            )
        linked = incidents.links_create(
            incident=incident, ticket_ids=sorted(wanted), by=actor, now=now
        )
        tickets.events_record(
            ticket_ids=linked,
            action="incident_linked",
            actor=actor,
            now=now,
            after={"incident": incident.pk},
        )
        for ticket_id in linked:
            notifications.broadcast_ticket_on_commit(Ticket(pk=ticket_id))
    return linked


def ticket_unlink(
    *, incident_id: int, actor: AbstractBaseUser, ticket_id: int, now: datetime.datetime
) -> None:
    """The ticket continues alone: no more of the incident's updates reach it."""
    staff_required(actor)
    with transaction.atomic():
        incident = _incident(incident_id, lock=True)
        ticket = tickets_visible_to(actor).filter(pk=ticket_id).first()
        if ticket is None or not incidents.link_remove(incident=incident, ticket_id=ticket.pk):
            raise Http404("No such linked ticket.")
        tickets.event_record(
            ticket=ticket,
            action="incident_unlinked",
            actor=actor,
            now=now,
            before={"incident": incident.pk},
        )
        notifications.broadcast_ticket_on_commit(ticket)


def link_on_arrival(*, ticket: Ticket, now: datetime.datetime) -> int | None:
    """A new request an open incident covers (its site, its categories) is linked to it at once,
    and its acknowledgement says the problem is known. One cache read when none covers it."""
    incident_id = selectors.incident_covering(category=ticket.category, site=ticket.data_center)
    if incident_id is None:
        return None
    incidents.links_create(
        incident=Incident(pk=incident_id), ticket_ids=[ticket.pk], by=None, now=now
    )
    return incident_id


def known_problem_note(ticket: Ticket) -> str:
    """What the acknowledgement adds for a request linked to an open incident, in the
    customer's language and time zone; "" otherwise (one cache read when none is open)."""
    if not selectors.open_covers.get():
        return ""
    link = selectors.open_link_of(ticket.pk)
    if link is None:
        return ""
    customer = ticket.customer
    return notices.known_problem_text(
        incident=link.incident,
        update=selectors.latest_update(link.incident_id),
        language=language_of(customer),
        zone=zone_of(customer),
    )


# --- The fan-out ------------------------------------------------------------------------------


def fanout_start(rows: int) -> None:
    """After COMMIT, enough tasks for `rows` deliveries or credit lines to spread over the
    workers (`INCIDENT_FANOUT_TASKS` at most): SKIP LOCKED gives each its own batches."""
    for _task in range(min(settings.INCIDENT_FANOUT_TASKS, -(-rows // DELIVERY_BATCH))):
        enqueue_on_commit(DELIVER_TASK)


def fanout_batch(*, now: datetime.datetime, batch: int = DELIVERY_BATCH) -> int:
    """Post up to `batch` pending deliveries, then credit decisions, in one transaction: each
    in its thread, in the customer's language, emailed and pushed live, marked done with it.
    Returns how many were posted; fewer than `batch` when none is left for this worker."""
    with transaction.atomic():
        deliveries = incidents.deliveries_claim(limit=batch)
        for delivery in deliveries:
            message = _deliver(delivery, now=now)
            incidents.delivery_done(
                delivery=delivery, message_id=message.pk if message else None, now=now
            )
        lines = incidents.credit_lines_claim(limit=batch - len(deliveries))
        for line in lines:
            ticket = line.ticket
            tickets.ticket_lock(ticket_id=ticket.pk)
            message = tickets.system_message_post(
                ticket=ticket,
                body=notices.credit_text(line=line, language=language_of(ticket.customer)),
                now=now,
            )
            notifications.email_queue(ticket=ticket, message=message, purpose="approval", now=now)
            notifications.broadcast_message_on_commit(message)
            incidents.credit_line_told(line=line, now=now)
    return len(deliveries) + len(lines)


def _deliver(delivery: Delivery, *, now: datetime.datetime):
    """One update in one thread. A closed ticket hears nothing more (the customer confirmed it);
    a resolution resolves the ticket with it."""
    ticket, update = delivery.ticket, delivery.update
    tickets.ticket_lock(ticket_id=ticket.pk)
    ticket.refresh_from_db(fields=["status", "team", "assignee"])
    if ticket.status == Status.CLOSED:
        return None
    message = tickets.system_message_post(
        ticket=ticket,
        body=notices.update_text(update=update, language=language_of(ticket.customer)),
        now=now,
    )
    tickets.ticket_touch(ticket=ticket, now=now)
    # The incident's lead wrote it for exactly this problem: the thread's reply and status
    # update, so that no agent pastes the same answer into two hundred tickets.
    clocks.clocks_on_public_reply(ticket=ticket, now=now)
    resolved = update.status == IncidentStatus.RESOLVED
    if resolved and ticket.status != Status.RESOLVED:
        status_change(ticket, Status.RESOLVED, actor=update.author, now=now, action="resolved")
    notifications.email_queue(
        ticket=ticket, message=message, purpose="resolution" if resolved else "incident", now=now
    )
    notifications.broadcast_message_on_commit(message)
    if resolved:
        notifications.broadcast_ticket_on_commit(ticket)
    return message


def deliveries_stalled(*, now: datetime.datetime) -> int:
    """Deliveries and credit decisions still waiting well after they were due: their task was
    lost (a broker outage at COMMIT, a worker killed before it took the task)."""
    return selectors.stalled_count(before=now - datetime.timedelta(seconds=STALLED_SECONDS))


# --- Surges -----------------------------------------------------------------------------------


def surges_check(*, now: datetime.datetime) -> list[Surge]:
    """Requests from one site arriving faster than the policy's threshold with no open incident
    covering them start a surge, once: the desk shows it and the team on shift is emailed the
    suggestion to open an incident. It ends when the pace falls below half the threshold (no
    repeat while it hovers around it). Returns the surges started."""
    policy = selectors.surge_policy()
    if not policy.enabled:
        return []
    counts = selectors.arrivals_by_site(since=now - datetime.timedelta(minutes=policy.minutes))
    started = []
    with transaction.atomic():
        for site, count in sorted(counts.items()):
            if count >= policy.requests:
                surge = incidents.surge_start(site=site, count=count, now=now)
                if surge is not None:
                    started.append(surge)
                    _surge_tell(surge, minutes=policy.minutes, now=now)
        calm = [
            site
            for site in selectors.surges_open().values_list("site", flat=True)
            if counts.get(site, 0) * 2 < policy.requests
        ]
        incidents.surges_end(sites=calm, now=now)
    return started


def _on_shift(site: str, now: datetime.datetime) -> list[AbstractBaseUser]:
    """The first line (24/7) and, if at work now, the site's data-center technicians: the
    teams' calendars as routing keeps them in memory (`routing_inputs`)."""
    slugs = [
        slug
        for slug, team in routing_inputs().teams.items()
        if slug == FIRST_LINE_TEAM
        or (team.datacenter and team.site == site and routing.open_now(team, now))
    ]
    return list(
        User.objects.filter(is_active=True, team_memberships__team__slug__in=slugs)
        .exclude(email="")
        .select_related("customer_profile")
        .distinct()
        .order_by("pk")
    )


def _surge_tell(surge: Surge, *, minutes: int, now: datetime.datetime) -> None:
    for person in _on_shift(surge.site, now):
        notifications.staff_email_queue(
            to=person.email,
            template="incidents/email/surge",
            context={"surge": surge, "minutes": minutes},
            language=language_of(person),
            purpose="surge",
            now=now,
        )


def surge_covered(*, surge_id: int, incident: Incident, now: datetime.datetime) -> None:
    """An incident was opened from a surge: the surge ends, answered by it."""
    incidents.surge_answer(surge_id=surge_id, incident=incident, now=now)


# --- Credits ----------------------------------------------------------------------------------


def _positive(value, *, field: str, message: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError(message, field=field) from exc
    if not number.is_finite() or number <= 0 or number.as_tuple().exponent < -2:
        raise ServiceError(message, field=field)
    if number >= Decimal(10) ** 10:
        raise ServiceError(message, field=field)
    return number


def credit_request(
    *,
    incident_id: int,
    actor: AbstractBaseUser,
    reason: str,
    now: datetime.datetime,
    amount=None,
    share_percent=None,
    fees: dict | None = None,
    currency: str = "",
) -> Credit:
    """One credit for everyone the outage hit, asked of management in one approval: a fixed
    `amount` per customer, or `share_percent` of each customer's monthly fee (`fees`: customer
    id -> fee, one for every customer linked). Each customer's amount goes on their first
    linked ticket, where the decision is told."""
    staff_required(actor)
    reason = _text(reason, field="reason", message=_("Say why management should approve it."))
    currency = (currency or settings.APPROVAL_CURRENCY).upper()
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise ServiceError(_("A currency is three letters, such as EUR."), field="currency")
    if (amount is None) == (share_percent is None):
        raise ServiceError(_("Give a fixed amount or a share of the monthly fee."), field="amount")
    with transaction.atomic():
        incident = _incident(incident_id, lock=True)
        first_ticket = selectors.first_ticket_per_customer(incident.pk)
        if not first_ticket:
            raise ServiceError(_("No ticket is linked to this incident."), code="no_tickets")
        if amount is not None:
            fixed = _positive(
                amount, field="amount", message=_("The amount is a number such as 25.00.")
            )
            lines = {ticket_id: fixed for ticket_id in first_ticket.values()}
            rule, share = Credit.Rule.FIXED, None
        else:
            share = _positive(
                share_percent, field="share_percent", message=_("The share is a percentage.")
            )
            if share > 100:
                raise ServiceError(_("The share is at most 100%."), field="share_percent")
            lines = _shares(fees, first_ticket, share)
            rule, fixed = Credit.Rule.SHARE, None
        approval = escalation.approval_open(
            ticket=None,
            kind=ApprovalKind.BILLING_CREDIT,
            reason=reason,
            requested_by=actor,
            now=now,
            amount=sum(lines.values()),
            currency=currency,
        )
        credit = incidents.credit_create(
            incident=incident,
            approval=approval,
            rule=rule,
            currency=currency,
            lines=lines,
            amount=fixed,
            share_percent=share,
        )
        for manager in managers_to_tell().exclude(pk=actor.pk):
            notifications.staff_email_queue(
                to=manager.email,
                template="incidents/email/credit_requested",
                context={"credit": credit, "approval": approval, "incident": incident},
                language=language_of(manager),
                purpose="approval_requested",
                now=now,
            )
    return credit


def _shares(fees, first_ticket: dict[int, int], share: Decimal) -> dict[int, Decimal]:
    if not isinstance(fees, dict):
        raise ServiceError(_("Give each customer's monthly fee."), field="fees")
    lines = {}
    for customer_id, ticket_id in first_ticket.items():
        fee = fees.get(str(customer_id), fees.get(customer_id))
        if fee is None:
            raise ServiceError(
                _("The monthly fee of customer %(id)s is missing.") % {"id": customer_id},
                field="fees",
            )
        monthly = _positive(fee, field="fees", message=_("A fee is a number such as 19.90."))
        lines[ticket_id] = (monthly * share / 100).quantize(Decimal("0.01"))
    return {ticket_id: value for ticket_id, value in lines.items() if value > 0}


def credit_decided(approval_id: int) -> None:
    """Management decided an incident's credit: the worker tells each customer's thread, once
    per line (`fanout_batch`)."""
    fanout_start(selectors.credit_lines_count(approval_id))


# --- Deflection -------------------------------------------------------------------------------


def incident_follow(
    *, incident_id: int, customer: AbstractBaseUser, now: datetime.datetime
) -> Incident:
    """A customer followed an open incident from the new-ticket page or the chat's start
    instead of writing (the managers' deflection figure)."""
    incident = _incident(incident_id)
    if user_role(customer) == Role.CUSTOMER and incident.is_open:
        incidents.follow_record(incident=incident, customer=customer, now=now)
    return incident
