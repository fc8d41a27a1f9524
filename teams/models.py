"""The support structure of the guide: teams by tier, their working hours and holidays."""

import datetime
import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.validators import validate_timezone

MIDNIGHT = datetime.time(0)


class Team(models.Model):
    class Kind(models.TextChoices):
        SUPPORT = "support", _("Support engineers")
        BILLING = "billing", _("Billing")
        DATACENTER = "datacenter", _("Data center technicians")
        SYSADMIN = "sysadmin", _("System administrators")
        MANAGEMENT = "management", _("Management")

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    # Tier 1-3 as in the guide; management stands beside the tiers, so it has none.
    tier = models.PositiveSmallIntegerField(_("tier"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_timezone]
    )
    site = models.SlugField(
        _("data-center site"),
        max_length=20,
        blank=True,
        help_text=_("Site code (e.g. ams, mia) for data-center teams."),
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=2,
        blank=True,
        help_text=_("ISO country code whose public holidays close this team (e.g. NL, US)."),
    )
    holiday_subdivision = models.CharField(_("holiday subdivision"), max_length=10, blank=True)
    active = models.BooleanField(_("active"), default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="TeamMembership",
        related_name="support_teams",
        blank=True,
    )

    class Meta:
        # Management has no tier: last on every database (SQLite sorts NULL first, PostgreSQL last).
        ordering = [F("tier").asc(nulls_last=True), "slug"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=["support", "billing", "datacenter", "sysadmin", "management"]
                ),
                name="team_kind_known",
            ),
            models.CheckConstraint(
                condition=Q(tier__isnull=True) | Q(tier__gte=1, tier__lte=3),
                name="team_tier_1_to_3",
            ),
            models.CheckConstraint(
                condition=~Q(kind="datacenter") | ~Q(site=""),
                name="team_datacenter_has_site",
            ),
            models.UniqueConstraint(
                fields=["site"],
                condition=Q(kind="datacenter"),
                name="team_one_datacenter_team_per_site",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("team membership")
        verbose_name_plural = _("team memberships")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.team}"


class WorkingHours(models.Model):
    """One range of a weekday in the team's local time; several a day allowed.

    `end` 00:00 means midnight at the end of the day (24:00), so that 24/7 is seven rows of
    00:00-00:00. A weekday with no row is closed.
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["team", "weekday", "start"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="hours_weekday_0_to_6"),
            models.CheckConstraint(
                condition=Q(end__gt=F("start")) | Q(end=MIDNIGHT),
                name="hours_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["team", "weekday", "start"], name="hours_unique_team_weekday_start"
            ),
        ]

    def __str__(self) -> str:
        end = "24:00" if self.end == MIDNIGHT else self.end.strftime("%H:%M")
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{end}"

    @property
    def end_minute(self) -> int:
        return 1440 if self.end == MIDNIGHT else self.end.hour * 60 + self.end.minute

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute


class Holiday(models.Model):
    """A day on which a team is closed, beside its country's public holidays."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["team", "date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        constraints = [
            models.UniqueConstraint(fields=["team", "date"], name="holiday_unique_team_date")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()
