"""Test data, built through the product's own services wherever one exists.

Plain functions with keyword-only arguments: every test reads what it gets. Usernames are
unique per call, so a test may make as many people as it needs.
"""

import datetime
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.utils import timezone

from accounts.roles import MANAGERS_GROUP
from accounts.services import customer_upsert
from escalation.routing import FIRST_LINE_TEAM
from teams.models import MIDNIGHT, Team, TeamMembership, WorkingHours
from tickets.models import Category, Channel, Ticket
from usecases.tickets import ticket_open

User = get_user_model()
PASSWORD = "correct-horse-battery-staple"
# Seven 00:00-24:00 ranges: the first line's promise of an answer at any hour.
ALWAYS_OPEN = tuple((weekday, MIDNIGHT, MIDNIGHT) for weekday in range(7))

_serial = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


def make_team(
    *,
    slug: str = FIRST_LINE_TEAM,
    kind: str = Team.Kind.SUPPORT,
    tier: int | None = 1,
    timezone: str = "UTC",
    hours: tuple[tuple[int, datetime.time, datetime.time], ...] = ALWAYS_OPEN,
    **fields,
) -> Team:
    """A team with its working hours; by default the first line of API.md (tier 1, UTC, 24/7)."""
    fields.setdefault("name", slug.replace("-", " ").title())
    team = Team.objects.create(slug=slug, kind=kind, tier=tier, timezone=timezone, **fields)
    WorkingHours.objects.bulk_create(
        WorkingHours(team=team, weekday=weekday, start=start, end=end)
        for weekday, start, end in hours
    )
    return team


def first_line_team() -> Team:
    """The team every new ticket is routed to, created on first use."""
    return Team.objects.filter(slug=FIRST_LINE_TEAM).first() or make_team()


def make_customer(*, username: str | None = None, language: str = "en", **fields):
    username = username or _unique("customer")
    return customer_upsert(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        language=language,
        **fields,
    )


def make_agent(
    *,
    username: str | None = None,
    teams: tuple[Team, ...] = (),
    manager: bool = False,
    superuser: bool = False,
):
    """A staff user in `teams`; `manager` adds the `managers` group, `superuser` makes an admin."""
    username = username or _unique("agent")
    user = User.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        is_staff=True,
        is_superuser=superuser,
    )
    for team in teams:
        TeamMembership.objects.create(team=team, user=user)
    if manager:
        # get_or_create: a transactional test's flush removes the group its migration made.
        user.groups.add(Group.objects.get_or_create(name=MANAGERS_GROUP)[0])
    return user


def make_ticket(
    *,
    customer: AbstractBaseUser | None = None,
    now: datetime.datetime | None = None,
    subject: str = "My server does not boot",
    body: str = "It stopped answering after a reboot.",
    category: str = Category.DEDICATED,
    channel: str = Channel.WEB,
    **fields,
) -> Ticket:
    """A ticket opened by `tickets.services.ticket_open`, as a customer's web form opens one."""
    first_line_team()
    return ticket_open(
        customer=customer or make_customer(),
        subject=subject,
        body=body,
        category=category,
        channel=channel,
        now=now or timezone.now(),
        **fields,
    )
