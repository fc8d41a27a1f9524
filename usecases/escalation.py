"""The verbs of escalation: escalate a request to another team, consult a team without moving
it, give a non-standard request its estimate, ask management for an approval and decide it.

The guide: escalation is normal and means the request goes to the specialist who can solve it
best; the customer stays in the same conversation and is told which team, why and what happens
next. Each verb is one transaction on the ticket's row lock, composing the records of
escalation, the thread, the clocks and the notices; emails and live events leave after COMMIT.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.roles import managers_to_tell, oversees_everything, staff_required
from accounts.selectors import language_of, zone_of
from core.errors import Conflict, NotAllowed, ServiceError
from core.text import text_given
from escalation import notices, routing
from escalation import services as escalation
from escalation.models import ApprovalKind, ApprovalRequest, Consultation, Escalation
from escalation.selectors import routing_inputs
from sla.services import clocks
from teams.models import Team
from tickets import notifications
from tickets import services as tickets
from tickets.models import Message, Status, Ticket
from tickets.selectors import access_ticket
from usecases.incidents import credit_decided
from usecases.status import status_change

User = get_user_model()

# Longest estimate an agent may give: beyond it a promise means nothing to a customer.
ESTIMATE_MAX_SECONDS = 90 * 24 * 3600
AMOUNT_MAX = Decimal("1000000")


def _team_to(slug: str, ticket: Ticket, *, closed: str) -> Team:
    """An active team of the tiers that does not own the ticket yet; 400 otherwise."""
    teams = Team.objects.filter(slug=slug, active=True) if isinstance(slug, str) else None
    team = teams.prefetch_related("working_hours", "holidays").first() if teams else None
    if team is None:
        raise ServiceError(_("No such team."), field="team", code="unknown_team")
    if team.tier is None:
        raise ServiceError(
            _("Management decides approvals: ask for an approval instead."),
            field="team",
            code="not_a_tier",
        )
    if team.pk == ticket.team_id:
        raise ServiceError(
            _("The %(team)s team already owns this ticket.") % {"team": team.name},
            field="team",
            code="same_team",
        )
    if ticket.status == Status.CLOSED:
        raise ServiceError(closed, code="ticket_closed")
    return team


def _tell_customer(ticket: Ticket, body: str, *, purpose: str, now: datetime.datetime) -> Message:
    """A notice in the thread (the service speaking), emailed and pushed to open chats."""
    message = tickets.system_message_post(ticket=ticket, body=body, now=now)
    notifications.email_queue(ticket=ticket, message=message, purpose=purpose, now=now)
    notifications.broadcast_message_on_commit(message)
    return message


def _tell_staff(people, *, template: str, context: dict, purpose: str, ticket, now) -> None:
    for person in people:
        if person.email:
            notifications.staff_email_queue(
                to=person.email,
                template=template,
                context=context,
                language=language_of(person),
                purpose=purpose,
                now=now,
                ticket=ticket,
            )


def _members(team: Team):
    return team.members.filter(is_active=True).select_related("customer_profile").order_by("pk")


def team_move(
    *,
    ticket: Ticket,
    team: Team,
    kind: str,
    reason: str,
    why: str,
    now: datetime.datetime,
    by: AbstractBaseUser | None = None,
    rule_id: int | None = None,
) -> Escalation:
    """Move a locked ticket to `team`: the record, the owner, the clocks on the new team's
    calendar (working time already spent kept), the customer told which team, `why` and what
    happens next (when the team starts, in their own time zone), the team's members told."""
    from_team = ticket.team
    record = escalation.escalation_record(
        ticket=ticket,
        from_team=from_team,
        to_team=team,
        kind=kind,
        reason=reason,
        by=by,
        rule_id=rule_id,
        now=now,
    )
    tickets.ticket_team_set(ticket=ticket, team=team, actor=by, now=now)
    clocks.clocks_move_team(ticket=ticket, team=team, now=now)
    customer = ticket.customer
    _tell_customer(
        ticket,
        notices.escalation_text(
            ticket=ticket,
            team=team,
            why=why,
            language=language_of(customer),
            zone=zone_of(customer),
            now=now,
        ),
        purpose="escalation",
        now=now,
    )
    _tell_staff(
        _members(team),
        template="escalation/email/escalated",
        context={"ticket": ticket, "escalation": record},
        purpose="escalated",
        ticket=ticket,
        now=now,
    )
    return record


def ticket_escalate(
    *, ticket_id: int, actor: AbstractBaseUser, team: str, reason: str, now: datetime.datetime
) -> Ticket:
    """An agent passes the request to another team, saying why in plain words: the customer
    reads that reason in the notice."""
    staff_required(actor)
    reason = text_given(reason)
    if not reason:
        raise ServiceError(_("Say why the request goes to this team."), field="reason")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        target = _team_to(team, ticket, closed=_("A closed ticket is not escalated."))
        team_move(
            ticket=ticket,
            team=target,
            kind=Escalation.Kind.AGENT,
            reason=reason,
            why=reason,
            by=actor,
            now=now,
        )
    return ticket


def ticket_route(*, ticket: Ticket, body: str, now: datetime.datetime) -> Escalation | None:
    """A new request meets the routing rules: it moves to the specialists when a rule routes
    directly, or when the first line overflows and the rule's team is at work; otherwise it
    stays with the first line (the desk shows what the rules suggest)."""
    inputs = routing_inputs()
    decision = routing.route(
        routing.TicketFacts(
            category=ticket.category,
            subject=ticket.subject,
            body=body,
            site=ticket.data_center,
        ),
        inputs.rules,
        inputs.teams,
        overflowing=inputs.overflowing,
        now=now,
    )
    if not decision.routed:
        return None
    team = Team.objects.prefetch_related("working_hours", "holidays").get(slug=decision.team)
    if decision.kind == Escalation.Kind.OVERFLOW:
        escalation.overflow_routed()
    language = language_of(ticket.customer)
    return team_move(
        ticket=ticket,
        team=team,
        kind=decision.kind,
        reason=notices.reason_explained(decision.reason, language=settings.LANGUAGE_CODE),
        why=notices.reason_explained(decision.reason, language=language),
        rule_id=decision.rule,
        now=now,
    )


def suggestion_for(*, ticket: Ticket, body: str, now: datetime.datetime) -> routing.Decision:
    """What the rules say of a ticket now, `body` its first message (the desk's suggestion): a
    pure evaluation of the cached routing inputs, no query."""
    inputs = routing_inputs()
    return routing.route(
        routing.TicketFacts(
            category=ticket.category, subject=ticket.subject, body=body, site=ticket.data_center
        ),
        inputs.rules,
        inputs.teams,
        overflowing=False,
        now=now,
    )


def ticket_consult(
    *, ticket_id: int, actor: AbstractBaseUser, team: str, note: str, now: datetime.datetime
) -> Consultation:
    """Ask another team for help without moving the request: that team sees the ticket, the
    clocks stay with the owner, the customer sees nothing of it."""
    staff_required(actor)
    note = text_given(note)
    if not note:
        raise ServiceError(_("Say what you ask the team."), field="note")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        target = _team_to(team, ticket, closed=_("No team is consulted on a closed ticket."))
        consultation = escalation.consultation_open(
            ticket=ticket, team=target, asked_by=actor, note=note, now=now
        )
        tickets.team_access_grant(ticket=ticket, team=target, now=now)
        question, _created = tickets.message_post(
            ticket=ticket,
            author=actor,
            kind=Message.Kind.INTERNAL,
            body=_("Question for the %(team)s team: %(note)s")
            % {"team": target.name, "note": note},
            channel=ticket.channel,
            now=now,
            ticket_locked=True,
        )
        tickets.event_record(
            ticket=ticket, action="consulted", actor=actor, now=now, after={"team": target.slug}
        )
        notifications.broadcast_message_on_commit(question)
        _tell_staff(
            _members(target),
            template="escalation/email/consulted",
            context={"ticket": ticket, "consultation": consultation, "asker": actor},
            purpose="consulted",
            ticket=ticket,
            now=now,
        )
    return consultation


def consultations_answered(*, ticket: Ticket, note: Message, now: datetime.datetime) -> None:
    """An internal note by a member of a consulted team answers its open consultations; the
    owner (the assignee, or the owning team) is told."""
    answered = escalation.consultations_answer(
        ticket=ticket, author=note.author, message=note, now=now
    )
    owners = [ticket.assignee] if ticket.assignee_id else list(_members(ticket.team))
    for consultation in answered:
        _tell_staff(
            owners,
            template="escalation/email/consultation_answered",
            context={"ticket": ticket, "consultation": consultation, "answer": note},
            purpose="consultation_answered",
            ticket=ticket,
            now=now,
        )


def ticket_estimate(
    *, ticket_id: int, actor: AbstractBaseUser, seconds: int, note: str, now: datetime.datetime
) -> Ticket:
    """A non-standard request: the agent gives an estimate, which becomes its resolution target
    on the owning team's calendar and is told to the customer (the guide: "Vi forniremo in
    anticipo una tempistica approssimativa")."""
    staff_required(actor)
    if type(seconds) is not int or not 60 <= seconds <= ESTIMATE_MAX_SECONDS:
        raise ServiceError(
            _("An estimate is between one minute and %(days)d days, in seconds.")
            % {"days": ESTIMATE_MAX_SECONDS // 86400},
            field="seconds",
        )
    note = text_given(note)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.status in (Status.RESOLVED, Status.CLOSED):
            raise Conflict(_("This ticket is already resolved."), code="already_resolved")
        tickets.ticket_estimate_set(ticket=ticket, seconds=seconds, actor=actor, now=now)
        clock = clocks.clocks_estimate(ticket=ticket, now=now)
        customer = ticket.customer
        _tell_customer(
            ticket,
            notices.estimate_text(
                ticket=ticket,
                due_at=clock.due_at,
                note=note,
                language=language_of(customer),
                zone=zone_of(customer),
            ),
            purpose="estimate",
            now=now,
        )
    return ticket


def _amount(value, kind: str) -> Decimal | None:
    if value in (None, ""):
        if kind == ApprovalKind.BILLING_CREDIT:
            raise ServiceError(_("Say the amount of the credit."), field="amount")
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ServiceError(_("The amount is a number such as 25.00."), field="amount") from exc
    if not amount.is_finite() or amount <= 0 or amount > AMOUNT_MAX:
        raise ServiceError(
            _("The amount is more than 0 and at most %(max)s.") % {"max": AMOUNT_MAX},
            field="amount",
        )
    if amount.as_tuple().exponent < -2:
        raise ServiceError(_("The amount has at most two decimals."), field="amount")
    return amount


def approval_request(
    *,
    ticket_id: int,
    actor: AbstractBaseUser,
    kind: str,
    reason: str,
    now: datetime.datetime,
    amount=None,
    currency: str = "",
) -> ApprovalRequest:
    """Ask management to approve a credit, an account exception or a special request, in the
    ticket's thread: it waits on the decision (its clocks paused), managers are told, the
    customer is told that we asked."""
    staff_required(actor)
    if kind not in ApprovalKind.values:
        raise ServiceError(_("No such kind of approval."), field="kind")
    reason = text_given(reason)
    if not reason:
        raise ServiceError(_("Say why management should approve it."), field="reason")
    amount = _amount(amount, kind)
    currency = (currency or settings.APPROVAL_CURRENCY).upper() if amount is not None else ""
    if amount is not None and not (
        len(currency) == 3 and currency.isascii() and currency.isalpha()
    ):
        raise ServiceError(_("A currency is three letters, such as EUR."), field="currency")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.status in (Status.RESOLVED, Status.CLOSED):
            raise Conflict(_("This ticket is already resolved."), code="already_resolved")
        approval = escalation.approval_open(
            ticket=ticket,
            kind=kind,
            reason=reason,
            amount=amount,
            currency=currency,
            requested_by=actor,
            now=now,
        )
        status_change(ticket, Status.PENDING_APPROVAL, actor=actor, now=now, action="approval")
        _tell_customer(
            ticket,
            notices.approval_requested_text(
                approval=approval, language=language_of(ticket.customer)
            ),
            purpose="approval",
            now=now,
        )
        managers = managers_to_tell().exclude(pk=actor.pk)
        _tell_staff(
            managers,
            template="escalation/email/approval_requested",
            context={"ticket": ticket, "approval": approval, "asker": actor},
            purpose="approval_requested",
            ticket=ticket,
            now=now,
        )
    return approval


DECISIONS = {"approve": ApprovalRequest.State.APPROVED, "reject": ApprovalRequest.State.REJECTED}


def approval_decide(
    *, approval_id: int, actor: AbstractBaseUser, decision: str, note: str, now: datetime.datetime
) -> ApprovalRequest:
    """A manager decides, once, and never on their own request. The decision is told in the
    thread in the customer's language; the ticket returns to its team, open, and its clocks
    resume with the waiting time left out."""
    if not oversees_everything(actor):
        raise NotAllowed(_("Only managers decide approvals."))
    if decision not in DECISIONS:
        raise ServiceError(_("Decide approve or reject."), field="decision")
    note = text_given(note)
    return _approval_end(
        approval_id=approval_id, actor=actor, state=DECISIONS[decision], note=note, now=now
    )


def approval_withdraw(
    *, approval_id: int, actor: AbstractBaseUser, now: datetime.datetime
) -> ApprovalRequest:
    """The one who asked (or a manager) no longer needs the decision: the ticket goes on."""
    staff_required(actor)
    return _approval_end(
        approval_id=approval_id,
        actor=actor,
        state=ApprovalRequest.State.WITHDRAWN,
        note="",
        now=now,
    )


def _approval_end(
    *, approval_id: int, actor: AbstractBaseUser, state: str, note: str, now: datetime.datetime
) -> ApprovalRequest:
    found = (
        ApprovalRequest.objects.filter(pk=approval_id).values_list("ticket_id", flat=True)[:1]
        if type(approval_id) is int
        else []
    )
    if not found:
        raise Http404("No such approval request.")
    ticket_id = found[0]
    with transaction.atomic():
        if ticket_id is None:
            # An incident's credit, for many customers: the staff's to see.
            staff_required(actor)
            ticket = None
        else:
            # The ticket's lock first, as every write on it takes: no deadlock with a reply.
            ticket = access_ticket(actor, ticket_id, lock=True)
        approval = ApprovalRequest.objects.select_related("requested_by").get(pk=approval_id)
        if state == ApprovalRequest.State.WITHDRAWN:
            if approval.requested_by_id != actor.pk and not oversees_everything(actor):
                raise NotAllowed(_("Only who asked, or a manager, withdraws a request."))
        elif approval.requested_by_id == actor.pk:
            raise NotAllowed(_("A manager never decides their own request."))
        if not escalation.approval_close(
            approval=approval,
            state=state,
            by=actor if state != ApprovalRequest.State.WITHDRAWN else None,
            note=note,
            now=now,
        ):
            raise Conflict(
                _("This request was already decided (%(state)s).")
                % {"state": approval.get_state_display()},
                code="already_decided",
            )
        if ticket is None:
            credit_decided(approval.pk)
            return approval
        if ticket.status == Status.PENDING_APPROVAL:
            status_change(ticket, Status.OPEN, actor=actor, now=now, action="approval_ended")
        tickets.event_record(
            ticket=ticket,
            action=f"approval_{state}",
            actor=actor,
            now=now,
            after={"approval": approval.pk, "kind": approval.kind},
        )
        _tell_customer(
            ticket,
            notices.approval_ended_text(
                approval=approval, team=ticket.team, language=language_of(ticket.customer)
            ),
            purpose="approval",
            now=now,
        )
    return approval
