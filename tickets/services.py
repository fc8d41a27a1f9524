"""Write use cases of the conversation. Each runs in one transaction; side effects on commit."""

import datetime
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils.translation import gettext as _

from escalation.models import Team
from escalation.routing import FIRST_LINE_TEAM
from escalation.selectors import teams_with_calendars
from sla import services as sla_services
from tickets import lifecycle, notifications
from tickets.attachments import (
    MAX_FILES_PER_MESSAGE,
    attachment_problem,
    clean_filename,
    content_type_for,
)
from tickets.errors import Conflict, NotAllowed, ServiceError
from tickets.models import (
    Assignment,
    Attachment,
    CustomerProfile,
    Event,
    Message,
    Priority,
    ReferenceCounter,
    Status,
    Ticket,
)
from tickets.selectors import Role, is_staff_role, user_role

User = get_user_model()


def event_record(
    *,
    ticket: Ticket,
    action: str,
    actor: AbstractBaseUser | None,
    now: datetime.datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> Event:
    return Event.objects.create(
        ticket=ticket,
        actor=actor,
        action=action,
        before=dict(before or {}),
        after=dict(after or {}),
        at=now,
    )


def reference_next(*, year: int) -> str:
    """HD-<year>-<n>: one atomic UPDATE ... RETURNING, so concurrent openings never collide.

    The counter row stays locked until the caller's transaction ends; references may skip a
    number when a transaction rolls back, never repeat one.
    """
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    sql = f"UPDATE {table} SET last = last + 1 WHERE year = %s RETURNING last"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [year])
        row = cursor.fetchone()
        if row is None:
            ReferenceCounter.objects.bulk_create(
                [ReferenceCounter(year=year)], ignore_conflicts=True
            )
            cursor.execute(sql, [year])
            row = cursor.fetchone()
    return f"HD-{year}-{row[0]:06d}"


def attachments_check(files: Iterable[UploadedFile]) -> None:
    """Refuse the whole message when one file is not acceptable: nothing is half-stored."""
    files = list(files)
    if len(files) > MAX_FILES_PER_MESSAGE:
        raise ServiceError(
            _("At most %(n)s files per message.") % {"n": MAX_FILES_PER_MESSAGE},
            field="attachments",
        )
    messages = {
        "type": _("%(name)s: this type of file cannot be attached."),
        "empty": _("%(name)s is empty."),
        "size": _("%(name)s is larger than %(mb)s MB."),
    }
    for upload in files:
        problem = attachment_problem(
            name=upload.name or "", size=upload.size or 0, max_bytes=settings.ATTACHMENT_MAX_BYTES
        )
        if problem:
            raise ServiceError(
                messages[problem]
                % {
                    "name": clean_filename(upload.name or ""),
                    "mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024),
                },
                field="attachments",
            )


def _attachments_store(message: Message, files: Iterable[UploadedFile]) -> list[Attachment]:
    stored = []
    for upload in files:
        name = clean_filename(upload.name or "")
        attachment = Attachment(
            message=message,
            token=secrets.token_hex(16),
            filename=name,
            content_type=content_type_for(name),
            size=upload.size,
        )
        attachment.file.save(attachment.token, upload, save=False)
        attachment.save()
        stored.append(attachment)
    return stored


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

    Ticket, first message, SLA clocks and event in one transaction; on commit the
    acknowledgement task runs (about a second later). The first message is not broadcast:
    nobody can be subscribed to a conversation that did not exist yet (a chat page connects
    after the opening and replays the thread).
    """
    attachments = list(attachments)
    attachments_check(attachments)
    with transaction.atomic():
        team = teams_with_calendars(Team.objects.filter(slug=FIRST_LINE_TEAM)).get()
        ticket = Ticket(
            reference=reference_next(year=now.year),
            subject=subject,
            category=category,
            channel=channel,
            priority=priority,
            data_center=data_center,
            customer=customer,
            team=team,
            status=Status.NEW,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        clocks = sla_services.clocks_new(ticket=ticket, now=now)
        ticket.save(force_insert=True)
        message = Message.objects.create(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            channel=channel,
            author=customer,
            body=body,
            client_id=client_id,
            email_message_id=email_message_id,
            created_at=now,
        )
        _attachments_store(message, attachments)
        # Left as prefetch_related leaves a relation: rendering the new ticket (the API's
        # answer) costs no query more.
        prefetched = ticket.clocks.all()
        prefetched._result_cache = sla_services.clocks_store(clocks)
        prefetched._prefetch_done = True
        ticket._prefetched_objects_cache = {"clocks": prefetched}
        event_record(
            ticket=ticket,
            action="opened",
            actor=opened_by or customer,
            now=now,
            after={"status": ticket.status, "team": team.slug, "channel": channel},
        )
        from sla.tasks import acknowledgement_send

        notifications.enqueue_on_commit(acknowledgement_send, ticket.pk)
    return ticket


def customer_upsert(
    *,
    username: str,
    email: str,
    password: str | None = None,
    language: str = "en",
    first_name: str = "",
    last_name: str = "",
    company: str = "",
    timezone: str | None = None,
) -> AbstractBaseUser:
    """Create or update a customer account and its profile."""
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        user.email = email
        user.first_name = first_name or user.first_name
        user.last_name = last_name or user.last_name
        user.is_staff = False
        user.is_superuser = False
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        profile_defaults = {"language": language}
        if company:
            profile_defaults["company"] = company
        if timezone:
            profile_defaults["timezone"] = timezone
        CustomerProfile.objects.update_or_create(user=user, defaults=profile_defaults)
    return user


def customer_register(
    *, username: str, email: str, password: str | None, language: str = "en"
) -> AbstractBaseUser:
    """Sign-up: create, never update, so that two sign-ups racing for one username cannot
    overwrite each other (the loser gets IntegrityError from the unique username).
    `password=None` gives an unusable password (accounts created from an email)."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        CustomerProfile.objects.create(user=user, language=language)
    return user


def profile_set_language(*, user: AbstractBaseUser, language: str) -> None:
    CustomerProfile.objects.update_or_create(user=user, defaults={"language": language})


def ticket_lock(*, ticket_id: int) -> None:
    """Take the ticket's row lock (SELECT ... FOR UPDATE) until the transaction ends.

    Every message of an existing ticket is inserted under it (`message_post`), so message ids
    commit in their order per ticket: a reader who has seen id n (a chat client replaying with
    `after=n`) never misses a smaller id committed later. A ticket's first message needs no
    lock: nobody else can see the ticket before `ticket_open` commits.
    """
    list(Ticket.objects.select_for_update().filter(pk=ticket_id).order_by().values_list("pk"))


def message_post(
    *,
    ticket: Ticket,
    author: AbstractBaseUser | None,
    kind: str,
    body: str,
    channel: str,
    now: datetime.datetime,
    client_id: str | None = None,
    email_message_id: str = "",
    ticket_locked: bool = False,
) -> tuple[Message, bool]:
    """Store a message once; a repeated `client_id` returns the stored one and `False`.

    The lower layer of `ticket_reply`: no status change, no notification. It takes the
    ticket's row lock (`ticket_lock`) unless the caller holds it already (`ticket_locked`,
    after `access_ticket(lock=True)` in the same transaction). The lock also serialises two
    deliveries of one `client_id`: the second finds the first's message.
    """
    with transaction.atomic(savepoint=False):
        if not ticket_locked:
            ticket_lock(ticket_id=ticket.pk)
        if client_id:
            existing = Message.objects.filter(ticket=ticket, client_id=client_id).first()
            if existing is not None:
                return existing, False
        message = Message.objects.create(
            ticket=ticket,
            kind=kind,
            channel=channel,
            author=author,
            body=body,
            client_id=client_id,
            email_message_id=email_message_id,
            created_at=now,
        )
    return message, True


def _status_set(
    ticket: Ticket,
    status: str,
    *,
    actor: AbstractBaseUser | None,
    now: datetime.datetime,
    action: str = "status_changed",
) -> None:
    old = ticket.status
    if old == status:
        return
    ticket.status = status
    if status == Status.RESOLVED:
        ticket.resolved_at = now
    elif status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.updated_at = now
    ticket.save(update_fields=["status", "resolved_at", "closed_at", "updated_at"])
    reopened = old == Status.RESOLVED and status == Status.OPEN
    sla_services.clocks_on_status(ticket=ticket, old_status=old, now=now, reopened=reopened)
    event_record(
        ticket=ticket,
        action="reopened" if reopened else action,
        actor=actor,
        now=now,
        before={"status": old},
        after={"status": status},
    )
    notifications.broadcast_ticket_on_commit(ticket)


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
    from tickets.selectors import access_ticket

    body = body.strip()
    if not body:
        raise ServiceError(_("The message is empty."), field="body")
    attachments = list(attachments)
    attachments_check(attachments)
    role = user_role(author)
    staff = is_staff_role(role)
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
        message, created = message_post(
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
        stored = _attachments_store(message, attachments)
        ticket.last_activity_at = now
        ticket.updated_at = now
        ticket.save(update_fields=["last_activity_at", "updated_at"])
        new_status = lifecycle.status_after_message(ticket.status, kind)
        if kind == Message.Kind.AGENT and wait_on_customer:
            new_status = Status.WAITING_ON_CUSTOMER
        _status_set(ticket, new_status, actor=author, now=now)
        if kind == Message.Kind.AGENT:
            sla_services.clocks_on_public_reply(ticket=ticket, now=now)
            # Imported here: chat builds on this module.
            from chat.services import unread_email_schedule

            if not unread_email_schedule(ticket=ticket, now=now):
                notifications.email_queue(ticket=ticket, message=message, purpose="reply", now=now)
        notifications.broadcast_message_on_commit(message, with_attachments=bool(stored))
    return message, True


def _require_staff(user: AbstractBaseUser) -> str:
    role = user_role(user)
    if not is_staff_role(role):
        raise NotAllowed(_("Only support staff can do this."))
    return role


def ticket_assign(
    *,
    ticket_id: int,
    actor: AbstractBaseUser,
    assignee_id: int | None,
    now: datetime.datetime,
) -> Ticket:
    """Give a ticket to an agent of its team (or to a manager); `None` means "I take it"."""
    from tickets.selectors import access_ticket

    _require_staff(actor)
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
        before = ticket.assignee_id
        if before == assignee.pk:
            return ticket
        ticket.assignee = assignee
        ticket.updated_at = now
        ticket.save(update_fields=["assignee", "updated_at"])
        Assignment.objects.get_or_create(
            ticket=ticket, agent=assignee, defaults={"assigned_at": now}
        )
        event_record(
            ticket=ticket,
            action="assigned",
            actor=actor,
            now=now,
            before={"assignee": before},
            after={"assignee": assignee.pk},
        )
        if ticket.status == Status.NEW:
            _status_set(ticket, Status.OPEN, actor=actor, now=now)
        else:
            notifications.broadcast_ticket_on_commit(ticket)
    return ticket


def ticket_resolve(
    *, ticket_id: int, actor: AbstractBaseUser, summary: str, now: datetime.datetime
) -> Ticket:
    """The specialist resolves the problem and says how: the summary is a public reply."""
    from tickets.selectors import access_ticket

    _require_staff(actor)
    summary = summary.strip()
    if not summary:
        raise ServiceError(_("Say how the problem was resolved."), field="summary")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, lock=True)
        if ticket.status in (Status.RESOLVED, Status.CLOSED):
            raise Conflict(_("This ticket is already resolved."), code="already_resolved")
        message, _created = message_post(
            ticket=ticket,
            author=actor,
            kind=Message.Kind.AGENT,
            body=summary,
            channel=ticket.channel,
            now=now,
            ticket_locked=True,
        )
        sla_services.clocks_on_public_reply(ticket=ticket, now=now)
        ticket.last_activity_at = now
        ticket.save(update_fields=["last_activity_at"])
        _status_set(ticket, Status.RESOLVED, actor=actor, now=now, action="resolved")
        notifications.email_queue(ticket=ticket, message=message, purpose="resolution", now=now)
        notifications.broadcast_message_on_commit(message)
    return ticket


def ticket_confirm(*, ticket_id: int, customer: AbstractBaseUser, now: datetime.datetime) -> Ticket:
    """The customer confirms the resolution: the ticket is closed with all its details."""
    from tickets.selectors import access_ticket

    with transaction.atomic():
        ticket = access_ticket(customer, ticket_id, lock=True)
        if ticket.customer_id != customer.pk:
            raise NotAllowed(_("Only the customer who opened the ticket can confirm it."))
        if ticket.status != Status.RESOLVED:
            raise Conflict(_("Only a resolved ticket can be confirmed."), code="not_resolved")
        _status_set(ticket, Status.CLOSED, actor=customer, now=now, action="confirmed")
    return ticket
