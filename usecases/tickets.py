"""The verbs of a ticket's life: open, reply, assign, take, resolve, confirm.

Each is one transaction composing the rooms below: the thread (`tickets.services`), its
promises (`sla.services.clocks`) and the live chat (`chat.services`). What leaves the
transaction (the acknowledgement task, emails, live events) goes after COMMIT.
"""

import datetime
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role, is_staff_role, staff_required, user_role
from chat.services import unread_email_schedule
from core.effects import enqueue_on_commit
from core.errors import Conflict, NotAllowed, ServiceError
from escalation.routing import FIRST_LINE_TEAM
from sla.services import clocks
from teams.models import Team
from teams.selectors import teams_with_calendars
from tickets import lifecycle, notifications
from tickets import services as tickets
from tickets.models import Message, Priority, Status, Ticket
from tickets.rendering import display_name
from tickets.selectors import access_ticket
from usecases.escalation import consultations_answered, ticket_route
from usecases.incidents import link_on_arrival
from usecases.status import status_change

User = get_user_model()

# The task that acknowledges a new request (jobs.tasks), enqueued by name after COMMIT.
ACKNOWLEDGEMENT_TASK = "sla.acknowledgement_send"


def ticket_open(
    *,
    customer: AbstractBaseUser,
    subject: str,
    body: str,
    category: str,
    channel: str,
    now: datetime.datetime,
    priority: str = Priority.NORMAL,
    data_center: str = "",
    opened_by: AbstractBaseUser | None = None,
    client_id: str | None = None,
    email_message_id: str = "",
    attachments: Iterable[UploadedFile] = (),
) -> Ticket:
    """Open a ticket, whatever the channel: the one path for web, API, email and chat.

    Ticket, first message, SLA clocks and event in one transaction, then the routing rules
    (`ticket_route`: a rule that routes directly, or the overflow, moves it to the
    specialists at once) and the open incident that covers it, if any (`link_on_arrival`: its
    acknowledgement then says the problem is known); on commit the acknowledgement task runs
    (about a second later).
    """
    attachments = list(attachments)
    tickets.attachments_check(attachments)
    with transaction.atomic():
        team = teams_with_calendars(Team.objects.filter(slug=FIRST_LINE_TEAM)).get()
        ticket = tickets.ticket_new(
            customer=customer,
            subject=subject,
            category=category,
            channel=channel,
            priority=priority,
            data_center=data_center,
            team=team,
            now=now,
        )
        new_clocks = clocks.clocks_new(ticket=ticket, now=now)
        tickets.ticket_insert(
            ticket=ticket,
            body=body,
            now=now,
            opened_by=opened_by,
            client_id=client_id,
            email_message_id=email_message_id,
            attachments=attachments,
        )
        # Left as prefetch_related leaves a relation: rendering the new ticket (the API's
        # answer) costs no query more.
        prefetched = ticket.clocks.all()
        prefetched._result_cache = clocks.clocks_store(new_clocks)
        prefetched._prefetch_done = True
        ticket._prefetched_objects_cache = {"clocks": prefetched}
        if ticket_route(ticket=ticket, body=body, now=now) is not None:
            # Moved to the specialists: their clocks changed, the answer reads them again.
            del ticket._prefetched_objects_cache
        # Kept on the ticket for its answer (`api.shapes.incident_of`): no query to read it back.
        ticket.incident_on_arrival = link_on_arrival(ticket=ticket, now=now)
        enqueue_on_commit(ACKNOWLEDGEMENT_TASK, ticket.pk)
    return ticket


def ticket_reply(
    *,
    ticket_id: int,
    author: AbstractBaseUser,
    body: str,
    channel: str,
    now: datetime.datetime,
    internal: bool = False,
    client_id: str | None = None,
    email_message_id: str = "",
    attachments: Iterable[UploadedFile] = (),
    wait_on_customer: bool = False,
) -> tuple[Message, bool]:
    """A person writes in a ticket's thread, from any channel.

    Customers write public messages (their `internal` is ignored); agents write public
    replies or internal notes. The status follows (a customer reply reopens a resolved
    ticket), the SLA clocks follow, the customer is emailed an agent's public reply (in a live
    chat, later and only if left unread: `chat.services.unread_email_schedule`).
    Returns the message and whether it is new (False for a repeated `client_id`).
    """
    body = body.strip()
    if not body:
        raise ServiceError(_("The message is empty."), field="body")
    attachments = list(attachments)
    tickets.attachments_check(attachments)
    staff = is_staff_role(user_role(author))
    if staff:
        kind = Message.Kind.INTERNAL if internal else Message.Kind.AGENT
    else:
        kind = Message.Kind.CUSTOMER
    with transaction.atomic():
        ticket = access_ticket(author, ticket_id, lock=True)
        if not lifecycle.may_reply(ticket.status):
            raise Conflict(
                _("This ticket is closed. Please open a new ticket; you can mention %(ref)s.")
                % {"ref": ticket.reference},
                code="ticket_closed",
            )
        message, created = tickets.message_post(
            ticket=ticket,
            author=author,
            kind=kind,
            body=body,
            channel=channel,
            now=now,
            client_id=client_id,
            email_message_id=email_message_id,
            ticket_locked=True,
        )
        if not created:
            return message, False
        stored = tickets.attachments_store(message, attachments)
        tickets.ticket_touch(ticket=ticket, now=now)
        new_status = lifecycle.status_after_message(ticket.status, kind)
        if kind == Message.Kind.AGENT and wait_on_customer:
            new_status = Status.WAITING_ON_CUSTOMER
        status_change(ticket, new_status, actor=author, now=now)
        if kind == Message.Kind.AGENT:
            clocks.clocks_on_public_reply(ticket=ticket, now=now)
            if not unread_email_schedule(ticket=ticket, now=now):
                notifications.email_queue(ticket=ticket, message=message, purpose="reply", now=now)
        elif kind == Message.Kind.INTERNAL:
            consultations_answered(ticket=ticket, note=message, now=now)
        notifications.broadcast_message_on_commit(message, with_attachments=bool(stored))
    return message, True


def ticket_assign(
    *,
    ticket_id: int,
    actor: AbstractBaseUser,
    assignee_id: int | None,
    now: datetime.datetime,
) -> Ticket:
    """Give a ticket to an agent of its team (or to a manager); `None` means "I take it"."""
    staff_required(actor)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.status == Status.CLOSED:
            raise Conflict(_("A closed ticket cannot be assigned."), code="ticket_closed")
        if assignee_id is None:
            assignee = actor
        else:
            assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
            if assignee is None or not is_staff_role(user_role(assignee)):
                raise ServiceError(_("No such agent."), field="assignee")
        if (
            user_role(assignee) == Role.AGENT
            and not assignee.team_memberships.filter(team_id=ticket.team_id).exists()
        ):
            raise ServiceError(
                _("%(agent)s is not a member of the %(team)s team.")
                % {"agent": assignee.get_username(), "team": ticket.team.name},
                field="assignee",
            )
        if not tickets.assignee_set(ticket=ticket, assignee=assignee, actor=actor, now=now):
            return ticket
        if ticket.status == Status.NEW:
            status_change(ticket, Status.OPEN, actor=actor, now=now)
        else:
            notifications.broadcast_ticket_on_commit(ticket)
    return ticket


def ticket_take(*, ticket_id: int, actor: AbstractBaseUser, now: datetime.datetime) -> Ticket:
    """The agent takes a ticket (a chat from the queue) that nobody else holds.

    The ticket's row is locked before its assignee is read: of two agents taking it at once,
    the second reads the first one's name and is refused (409, "taken"). Taking one's own
    ticket again changes nothing; taking it from a colleague is an assignment
    (`ticket_assign`), never a take.
    """
    staff_required(actor)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.assignee_id is not None and ticket.assignee_id != actor.pk:
            raise Conflict(
                _("Already taken by %(name)s.") % {"name": display_name(ticket.assignee)},
                code="taken",
            )
        return ticket_assign(ticket_id=ticket.pk, actor=actor, assignee_id=None, now=now)


def ticket_resolve(
    *, ticket_id: int, actor: AbstractBaseUser, summary: str, now: datetime.datetime
) -> Ticket:
    """The specialist resolves the problem and says how: the summary is a public reply."""
    staff_required(actor)
    summary = summary.strip()
    if not summary:
        raise ServiceError(_("Say how the problem was resolved."), field="summary")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.status in (Status.RESOLVED, Status.CLOSED):
            raise Conflict(_("This ticket is already resolved."), code="already_resolved")
        message, _created = tickets.message_post(
            ticket=ticket,
            author=actor,
            kind=Message.Kind.AGENT,
            body=summary,
            channel=ticket.channel,
            now=now,
            ticket_locked=True,
        )
        clocks.clocks_on_public_reply(ticket=ticket, now=now)
        tickets.ticket_touch(ticket=ticket, now=now)
        status_change(ticket, Status.RESOLVED, actor=actor, now=now, action="resolved")
        notifications.email_queue(ticket=ticket, message=message, purpose="resolution", now=now)
        notifications.broadcast_message_on_commit(message)
    return ticket


def ticket_confirm(*, ticket_id: int, customer: AbstractBaseUser, now: datetime.datetime) -> Ticket:
    """The customer confirms the resolution: the ticket is closed with all its details."""
    with transaction.atomic():
        ticket = access_ticket(customer, ticket_id, lock=True)
        if ticket.customer_id != customer.pk:
            raise NotAllowed(_("Only the customer who opened the ticket can confirm it."))
        if ticket.status != Status.RESOLVED:
            raise Conflict(_("Only a resolved ticket can be confirmed."), code="not_resolved")
        status_change(ticket, Status.CLOSED, actor=customer, now=now, action="confirmed")
    return ticket
