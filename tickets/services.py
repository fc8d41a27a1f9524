"""Writes of the conversation, one app only: a ticket and its first message, messages in its
thread, its status, who works it, its event log and its files. The use cases (`usecases`)
compose them with the clocks, the chat and the escalations in one transaction."""

import datetime
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.text import bidi_controls_removed
from teams.models import Team
from tickets import notifications
from tickets.attachments import (
    MAX_FILES_PER_MESSAGE,
    attachment_problem,
    clean_filename,
    content_type_for,
)
from tickets.models import (
    Assignment,
    Attachment,
    Event,
    Message,
    ReferenceCounter,
    Status,
    TeamAccess,
    Ticket,
)


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


def events_record(
    *,
    ticket_ids: Iterable[int],
    action: str,
    actor: AbstractBaseUser | None,
    now: datetime.datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """The same event on many tickets (a bulk action), in one INSERT."""
    Event.objects.bulk_create(
        Event(
            ticket_id=ticket_id,
            actor=actor,
            action=action,
            before=dict(before or {}),
            after=dict(after or {}),
            at=now,
        )
        for ticket_id in ticket_ids
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


def attachments_store(message: Message, files: Iterable[UploadedFile]) -> list[Attachment]:
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


def ticket_new(
    *,
    customer: AbstractBaseUser,
    subject: str,
    category: str,
    channel: str,
    priority: str,
    data_center: str,
    team: Team,
    now: datetime.datetime,
) -> Ticket:
    """A new ticket of `team`, not saved yet: its clocks set `next_due_at` before the INSERT
    (`ticket_insert`), so that a new ticket's row is written once."""
    return Ticket(
        reference=reference_next(year=now.year),
        subject=bidi_controls_removed(subject),
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


def ticket_insert(
    *,
    ticket: Ticket,
    body: str,
    now: datetime.datetime,
    opened_by: AbstractBaseUser | None = None,
    client_id: str | None = None,
    email_message_id: str = "",
    attachments: Iterable[UploadedFile] = (),
) -> Message:
    """Save a ticket of `ticket_new` with its first message, files and "opened" event. The
    first message is not broadcast: nobody can be subscribed to a conversation that did not
    exist yet (a chat page connects after the opening and replays the thread)."""
    ticket.save(force_insert=True)
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.CUSTOMER,
        channel=ticket.channel,
        author=ticket.customer,
        body=bidi_controls_removed(body),
        client_id=client_id,
        email_message_id=email_message_id,
        created_at=now,
    )
    attachments_store(message, attachments)
    event_record(
        ticket=ticket,
        action="opened",
        actor=opened_by or ticket.customer,
        now=now,
        after={"status": ticket.status, "team": ticket.team.slug, "channel": ticket.channel},
    )
    return message


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
            body=bidi_controls_removed(body),
            client_id=client_id,
            email_message_id=email_message_id,
            created_at=now,
        )
        # The message before it, read under the lock: its broadcast carries it, so that a socket
        # whose server received a later broadcast first notices the gap (live.consumers).
        message.previous_id = (
            Message.objects.filter(ticket=ticket, pk__lt=message.pk)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
    return message, True


def system_message_post(
    *, ticket: Ticket, body: str, now: datetime.datetime, channel: str | None = None
) -> Message:
    """The service speaking in the thread: no author, on the ticket's own channel unless told,
    stored under the ticket's row lock like every message, which the caller holds already."""
    message, _created = message_post(
        ticket=ticket,
        author=None,
        kind=Message.Kind.SYSTEM,
        body=body,
        channel=channel or ticket.channel,
        now=now,
        ticket_locked=True,
    )
    return message


def ticket_status_set(
    ticket: Ticket,
    status: str,
    *,
    actor: AbstractBaseUser | None,
    now: datetime.datetime,
    action: str = "status_changed",
) -> str | None:
    """Give the ticket `status`, log it and tell its sockets; returns the status it had, or None
    when it had this one already. The clocks follow in the use case (`sla.services.clocks`)."""
    old = ticket.status
    if old == status:
        return None
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
    event_record(
        ticket=ticket,
        action="reopened" if is_reopening(old, status) else action,
        actor=actor,
        now=now,
        before={"status": old},
        after={"status": status},
    )
    notifications.broadcast_ticket_on_commit(ticket)
    return old


def is_reopening(old_status: str, new_status: str) -> bool:
    return old_status == Status.RESOLVED and new_status == Status.OPEN


def ticket_touch(*, ticket: Ticket, now: datetime.datetime) -> None:
    """A message joined the thread: the ticket's last activity is now."""
    ticket.last_activity_at = now
    ticket.updated_at = now
    ticket.save(update_fields=["last_activity_at", "updated_at"])


def assignee_set(
    *, ticket: Ticket, assignee: AbstractBaseUser, actor: AbstractBaseUser, now: datetime.datetime
) -> bool:
    """Give the ticket to `assignee` (who keeps seeing it from now on); False when it was
    theirs already."""
    before = ticket.assignee_id
    if before == assignee.pk:
        return False
    ticket.assignee = assignee
    ticket.updated_at = now
    ticket.save(update_fields=["assignee", "updated_at"])
    Assignment.objects.get_or_create(ticket=ticket, agent=assignee, defaults={"assigned_at": now})
    event_record(
        ticket=ticket,
        action="assigned",
        actor=actor,
        now=now,
        before={"assignee": before},
        after={"assignee": assignee.pk},
    )
    return True


def ticket_team_set(
    *, ticket: Ticket, team: Team, actor: AbstractBaseUser | None, now: datetime.datetime
) -> Team:
    """The ticket now belongs to `team`; an assignee who is not one of its members lets go (the
    new team takes it from its queue, the former assignee keeps seeing it). Returns the team it
    left. Logged and told to its sockets."""
    before = ticket.team
    ticket.team = team
    fields = ["team", "updated_at"]
    if ticket.assignee_id and not team.memberships.filter(user_id=ticket.assignee_id).exists():
        ticket.assignee = None
        fields.append("assignee")
    ticket.updated_at = now
    ticket.save(update_fields=fields)
    event_record(
        ticket=ticket,
        action="team_changed",
        actor=actor,
        now=now,
        before={"team": before.slug},
        after={"team": team.slug, "assignee": ticket.assignee_id},
    )
    notifications.broadcast_ticket_on_commit(ticket)
    return before


def ticket_estimate_set(
    *, ticket: Ticket, seconds: int, actor: AbstractBaseUser, now: datetime.datetime
) -> None:
    """A non-standard request's estimate: its resolution target from now on."""
    before = ticket.estimate_seconds
    ticket.estimate_seconds = seconds
    ticket.updated_at = now
    ticket.save(update_fields=["estimate_seconds", "updated_at"])
    event_record(
        ticket=ticket,
        action="estimated",
        actor=actor,
        now=now,
        before={"estimate_seconds": before},
        after={"estimate_seconds": seconds},
    )


def team_access_grant(*, ticket: Ticket, team: Team, now: datetime.datetime) -> None:
    """`team` may see the ticket from now on (a consultation); granting twice is harmless."""
    TeamAccess.objects.get_or_create(ticket=ticket, team=team, defaults={"since": now})
