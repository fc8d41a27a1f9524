"""Writes of the support structure: the default teams and their hours, staff and their
permissions."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.roles import MANAGERS_GROUP
from teams.calendar import MINUTES_PER_DAY
from teams.models import MIDNIGHT, Team, TeamMembership, WorkingHours

User = get_user_model()

# --- The default support structure ------------------------------------------------------------


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _weekdays(start: str, end: str) -> tuple[tuple[int, int, int], ...]:
    return tuple((weekday, _minute(start), _minute(end)) for weekday in range(5))


ALWAYS = tuple((weekday, 0, MINUTES_PER_DAY) for weekday in range(7))


@dataclass(frozen=True)
class TeamDefault:
    slug: str
    name: str
    tier: int | None
    kind: str
    timezone: str
    hours: tuple[tuple[int, int, int], ...]
    site: str = ""
    holiday_country: str = ""


# The data-center sites of API.md with their zones and the country whose public holidays close
# them; each gets a `datacenter-<site>` team.
DEFAULT_SITES = {"ams": ("Europe/Amsterdam", "NL"), "mia": ("America/New_York", "US")}

# API.md, "Default support structure", from the guide's table. Hours are local wall clock.
DEFAULT_TEAMS = (
    TeamDefault("support", "Support engineers", 1, Team.Kind.SUPPORT, "UTC", ALWAYS),
    TeamDefault("billing", "Billing", 2, Team.Kind.BILLING, "CET", _weekdays("09:00", "18:00")),
    *(
        TeamDefault(
            f"datacenter-{site}",
            f"Data center technicians ({site})",
            2,
            Team.Kind.DATACENTER,
            zone,
            _weekdays("08:00", "17:00"),
            site=site,
            holiday_country=country,
        )
        for site, (zone, country) in DEFAULT_SITES.items()
    ),
    TeamDefault(
        "sysadmin",
        "System administrators",
        3,
        Team.Kind.SYSADMIN,
        "CET",
        _weekdays("08:00", "22:00"),
    ),
    TeamDefault(
        "management", "Management", None, Team.Kind.MANAGEMENT, "CET", _weekdays("09:00", "18:00")
    ),
)


def _time(minute: int) -> datetime.time:
    return MIDNIGHT if minute == MINUTES_PER_DAY else datetime.time(minute // 60, minute % 60)


@dataclass(frozen=True)
class SupportSetup:
    """What `support_structure_setup` changed; all empty on a run that found everything."""

    teams_created: tuple[str, ...] = ()
    teams_updated: tuple[str, ...] = ()
    hours_created: int = 0
    permissions_granted: int = 0
    teams_kept: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(
            self.teams_created
            or self.teams_updated
            or self.hours_created
            or self.permissions_granted
        )

    def __str__(self) -> str:
        if not self.changed:
            return _("Support structure already in place (%(count)d teams); nothing changed.") % {
                "count": len(self.teams_kept)
            }
        return _(
            "Support structure: %(created)d teams created (%(created_slugs)s), %(updated)d "
            "updated (%(updated_slugs)s), %(hours)d working-hour ranges added, %(perms)d "
            "permissions granted."
        ) % {
            "created": len(self.teams_created),
            "created_slugs": ", ".join(self.teams_created) or "-",
            "updated": len(self.teams_updated),
            "updated_slugs": ", ".join(self.teams_updated) or "-",
            "hours": self.hours_created,
            "perms": self.permissions_granted,
        }


def support_structure_setup(*, defaults: Iterable[TeamDefault] = DEFAULT_TEAMS) -> SupportSetup:
    """Create what is missing of the default support structure; idempotent.

    API.md's table is only the default: hours, zones, sites, names and holidays are data that
    admins edit, and a later run must not undo their edits. So a missing team is created with
    its default hours, while an existing team keeps everything but its `kind` and `tier` (the
    routing and escalation code rely on those) and gets default hours only if it has none at
    all. A site that already has a data-center team under another slug gets no second one.
    Also ensures the staff groups and their permissions (`staff_groups_ensure`). Nothing is
    written when nothing differs, so a second run changes no row.
    """
    created: list[str] = []
    updated: list[str] = []
    kept: list[str] = []
    hours_created = 0
    with transaction.atomic():
        for default in defaults:
            if (
                default.kind == Team.Kind.DATACENTER
                and Team.objects.filter(kind=Team.Kind.DATACENTER, site=default.site)
                .exclude(slug=default.slug)
                .exists()
            ):
                kept.append(default.slug)
                continue
            team, was_created = Team.objects.get_or_create(
                slug=default.slug,
                defaults={
                    "name": default.name,
                    "tier": default.tier,
                    "kind": default.kind,
                    "timezone": default.timezone,
                    "site": default.site,
                    "holiday_country": default.holiday_country,
                },
            )
            changed = []
            if not was_created:
                for name in ("kind", "tier"):
                    if getattr(team, name) != getattr(default, name):
                        setattr(team, name, getattr(default, name))
                        changed.append(name)
                if team.kind == Team.Kind.DATACENTER and not team.site:
                    team.site = default.site
                    changed.append("site")
                if changed:
                    team.save(update_fields=changed)
            if not team.working_hours.exists():
                WorkingHours.objects.bulk_create(
                    WorkingHours(team=team, weekday=weekday, start=_time(start), end=_time(end))
                    for weekday, start, end in default.hours
                )
                hours_created += len(default.hours)
            (created if was_created else updated if changed else kept).append(team.slug)
        granted = staff_groups_ensure()
    return SupportSetup(
        teams_created=tuple(created),
        teams_updated=tuple(updated),
        hours_created=hours_created,
        permissions_granted=granted,
        teams_kept=tuple(kept),
    )


# --- Staff ------------------------------------------------------------------------------------

AGENTS_GROUP = "agents"

# What an agent needs in the admin: work the tickets of the queues, read the structure.
AGENT_PERMISSIONS = (
    ("tickets", "view_ticket"),
    ("tickets", "change_ticket"),
    ("tickets", "view_message"),
    ("tickets", "change_message"),
    ("tickets", "view_attachment"),
    ("tickets", "change_attachment"),
    ("teams", "view_team"),
    ("teams", "view_workinghours"),
    ("teams", "view_holiday"),
    ("teams", "view_teammembership"),
    ("escalation", "view_routingrule"),
    ("escalation", "view_overflowpolicy"),
    ("escalation", "view_overflowperiod"),
)
# Managers also run the structure: teams, their hours, holidays and members, the SLA policy (a
# change is saved as a new version, so nobody deletes one), the routing rules and the overflow
# policy (one row, never added or deleted). The group holds the agents' permissions too, so
# that it stands alone for a manager an admin adds by hand.
MANAGER_PERMISSIONS = (
    *AGENT_PERMISSIONS,
    ("teams", "change_team"),
    ("sla", "view_policy"),
    ("sla", "add_policy"),
    ("sla", "change_policy"),
    ("escalation", "add_routingrule"),
    ("escalation", "change_routingrule"),
    ("escalation", "delete_routingrule"),
    ("escalation", "change_overflowpolicy"),
    *(
        (app, f"{action}_{model}")
        for app, model in (
            ("teams", "workinghours"),
            ("teams", "holiday"),
            ("teams", "teammembership"),
        )
        for action in ("add", "change", "delete")
    ),
)


def _permissions(wanted: Iterable[tuple[str, str]]) -> list[Permission]:
    wanted = list(wanted)
    match = Q()
    for app, codename in wanted:
        match |= Q(content_type__app_label=app, codename=codename)
    found = list(Permission.objects.filter(match).select_related("content_type"))
    missing = set(wanted) - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        # Permissions are created after migrations (post_migrate); a caller before that is a bug.
        raise LookupError(f"permissions not installed yet (run migrate): {sorted(missing)}")
    return found


def staff_groups_ensure() -> int:
    """Create the `agents` and `managers` groups and grant what they lack; returns how many
    permissions were granted. Never takes away a permission an admin added.

    A service rather than a data migration: Django creates permissions only after all
    migrations ran (post_migrate), and a test database flushed between transactional tests
    loses migration-made rows; `setup_support` and `add_staff` call this every time instead.
    """
    granted = 0
    with transaction.atomic():
        for name, wanted in (
            (AGENTS_GROUP, AGENT_PERMISSIONS),
            (MANAGERS_GROUP, MANAGER_PERMISSIONS),
        ):
            group, _created = Group.objects.get_or_create(name=name)
            have = set(group.permissions.values_list("pk", flat=True))
            missing = [perm for perm in _permissions(wanted) if perm.pk not in have]
            if missing:
                group.permissions.add(*missing)
                granted += len(missing)
    return granted


class UnknownTeamError(ValueError):
    def __init__(self, slugs: Iterable[str], known: Iterable[str]):
        self.slugs = tuple(slugs)
        super().__init__(
            _("Unknown team %(slugs)s (known teams: %(known)s).")
            % {"slugs": ", ".join(self.slugs), "known": ", ".join(known) or "-"}
        )


def staff_upsert(
    *,
    username: str,
    password: str | None,
    teams: Iterable[str],
    manager: bool = False,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[AbstractBaseUser, bool]:
    """Create or update an agent (a manager with `manager`); returns the user and whether it
    was created.

    The user becomes staff, belongs to exactly the teams `teams` (slugs; memberships kept keep
    their date) and to the `agents` group, and to `managers` exactly when `manager`. Other
    groups, superuser status and empty optional fields are left as they were; without a
    password a new account gets an unusable one.
    """
    slugs = list(dict.fromkeys(teams))
    if not slugs:
        raise ValueError(_("A member of staff belongs to at least one team."))
    with transaction.atomic():
        by_slug = {team.slug: team for team in Team.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in by_slug]
        if unknown:
            known = Team.objects.order_by("slug").values_list("slug", flat=True)
            raise UnknownTeamError(unknown, known)
        staff_groups_ensure()
        user, created = User.objects.get_or_create(username=username)
        user.is_staff = True
        user.email = email or user.email
        user.first_name = first_name or user.first_name
        user.last_name = last_name or user.last_name
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()

        memberships = TeamMembership.objects.filter(user=user)
        memberships.exclude(team__slug__in=slugs).delete()
        have = set(memberships.values_list("team__slug", flat=True))
        TeamMembership.objects.bulk_create(
            TeamMembership(team=by_slug[slug], user=user) for slug in slugs if slug not in have
        )

        user.groups.add(Group.objects.get(name=AGENTS_GROUP))
        managers = Group.objects.get(name=MANAGERS_GROUP)
        if manager:
            user.groups.add(managers)
        else:
            user.groups.remove(managers)
    return user, created
