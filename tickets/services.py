"""Write use cases of the conversation. Each runs in one transaction; side effects on commit."""

import datetime
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from escalation.models import Team
from escalation.routing import FIRST_LINE_TEAM
from tickets.models import (
    CustomerProfile,
    Event,
    Message,
    Priority,
    ReferenceCounter,
    Status,
    Ticket,
)

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
) -> Ticket:
    """Open a ticket, whatever the channel: the one path for web, API, email and chat."""
    with transaction.atomic():
        team = Team.objects.get(slug=FIRST_LINE_TEAM)
        ticket = Ticket.objects.create(
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
        ticket.team = team
        Message.objects.create(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            channel=channel,
            author=customer,
            body=body,
            client_id=client_id,
            email_message_id=email_message_id,
            created_at=now,
        )
        event_record(
            ticket=ticket,
            action="opened",
            actor=opened_by or customer,
            now=now,
            after={"status": ticket.status, "team": team.slug, "channel": channel},
        )
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


def profile_set_language(*, user: AbstractBaseUser, language: str) -> None:
    CustomerProfile.objects.update_or_create(user=user, defaults={"language": language})


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
) -> tuple[Message, bool]:
    """Store a message once; a repeated `client_id` returns the stored one and `False`."""
    if client_id:
        existing = Message.objects.filter(ticket=ticket, client_id=client_id).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
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
            Ticket.objects.filter(pk=ticket.pk).update(last_activity_at=now, updated_at=now)
    except IntegrityError:
        # Two deliveries of the same client_id raced; the other one stored it.
        if not client_id:
            raise
        return Message.objects.get(ticket=ticket, client_id=client_id), False
    return message, True
