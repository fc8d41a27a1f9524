"""The promises on a clock: one Clock per ticket and metric, a Breach when one is missed, and
the versions of the policy that set their targets."""

import dataclasses
import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from sla.policy import Metric, Targets

# The policy's targets, named as the fields of the pure `Targets` value.
TARGET_FIELDS = tuple(field.name for field in dataclasses.fields(Targets))


def _target(verbose_name, help_text):
    return models.DurationField(verbose_name, help_text=help_text)


class Policy(models.Model):
    """One version of the SLA policy: the targets a clock gets when it starts.

    Versions are never changed once written: an edit is saved as a new version, which new
    clocks take, while every running clock keeps the target, and the version, it started
    with. The current version is the highest.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    acknowledgement_ticket = _target(
        _("acknowledgement, tickets"), _("Automatic reply to a web, email or API request.")
    )
    acknowledgement_chat = _target(_("acknowledgement, chat"), _("Automatic reply in a chat."))
    first_response = _target(
        _("first response"), _("A human agent's first public reply, on the wall clock.")
    )
    status_update = _target(
        _("status update"), _("Between updates while work goes on, in the team's working time.")
    )
    resolution_simple = _target(
        _("resolution, simple problems"), _("Billing, access, orders: working time.")
    )
    resolution_standard = _target(
        _("resolution, standard problems"), _("VPS, dedicated, network: working time.")
    )
    resolution_complex = _target(
        _("resolution, complex problems"), _("Custom configuration: working time.")
    )
    note = models.CharField(_("reason for the change"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["-version"]
        verbose_name = _("SLA policy version")
        verbose_name_plural = _("SLA policy versions")
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="policy_version_positive"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gt": datetime.timedelta(0)}),
                    name=f"policy_{name}_positive",
                )
                for name in TARGET_FIELDS
            ),
        ]

    def __str__(self) -> str:
        return _("SLA policy v%(version)d") % {"version": self.version}

    @property
    def targets(self) -> Targets:
        return Targets(**{name: int(getattr(self, name).total_seconds()) for name in TARGET_FIELDS})

    @staticmethod
    def fields_of(targets: Targets) -> dict[str, datetime.timedelta]:
        return {name: datetime.timedelta(seconds=getattr(targets, name)) for name in TARGET_FIELDS}


class Clock(models.Model):
    """A promise with a deadline.

    Acknowledgement and first response run on the wall clock; status update and resolution on
    the owning team's working hours (`business`). A paused clock keeps `remaining_seconds` of
    working time and gets a new `due_at` when it resumes.
    """

    class MetricChoices(models.TextChoices):
        ACKNOWLEDGEMENT = Metric.ACKNOWLEDGEMENT, _("Acknowledgement")
        FIRST_RESPONSE = Metric.FIRST_RESPONSE, _("First response")
        STATUS_UPDATE = Metric.STATUS_UPDATE, _("Status update")
        RESOLUTION = Metric.RESOLUTION, _("Resolution")

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="clocks")
    metric = models.CharField(_("metric"), max_length=20, choices=MetricChoices.choices)
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The team whose working hours run this clock."),
    )
    business = models.BooleanField(_("on working hours"), default=False)
    target_seconds = models.PositiveIntegerField(_("target (seconds)"))
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clocks",
        verbose_name=_("policy version"),
        help_text=_("The version of the SLA policy that set the target."),
    )
    started_at = models.DateTimeField(_("started"))
    due_at = models.DateTimeField(_("due"))
    met_at = models.DateTimeField(_("met"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(_("paused for (seconds)"), default=0)
    remaining_seconds = models.IntegerField(
        _("remaining when paused (seconds)"), null=True, blank=True
    )
    warned_at = models.DateTimeField(_("at-risk warning sent"), null=True, blank=True)
    reminded_at = models.DateTimeField(
        _("owner reminded (status update due)"), null=True, blank=True
    )

    class Meta:
        ordering = ["due_at"]
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        constraints = [
            models.CheckConstraint(
                condition=Q(metric__in=[m.value for m in Metric]), name="clock_metric_known"
            ),
            # A ticket has at most one running clock per metric; a reopened ticket gets a
            # fresh one after the old one was met or cancelled.
            models.UniqueConstraint(
                fields=["ticket", "metric"],
                condition=Q(met_at__isnull=True, cancelled_at__isnull=True),
                name="clock_one_running_per_ticket_metric",
            ),
            models.CheckConstraint(
                condition=Q(paused_at__isnull=True) | Q(remaining_seconds__isnull=False),
                name="clock_paused_keeps_remaining",
            ),
        ]
        indexes = [
            # The sweep reads only what is running and due: cost follows what is due, not
            # how many tickets exist.
            models.Index(
                fields=["due_at"],
                name="clock_sweep_idx",
                condition=Q(
                    met_at__isnull=True,
                    breached_at__isnull=True,
                    cancelled_at__isnull=True,
                    paused_at__isnull=True,
                ),
            ),
            models.Index(fields=["ticket", "metric"], name="clock_ticket_idx"),
            # Acknowledgements still owed, breached or not: what the sweep resends.
            models.Index(
                fields=["started_at"],
                name="clock_ack_owed_idx",
                condition=Q(
                    metric="acknowledgement", met_at__isnull=True, cancelled_at__isnull=True
                ),
            ),
            # Status updates owed and not yet reminded: what the reminder step reads.
            models.Index(
                fields=["due_at"],
                name="clock_update_remind_idx",
                condition=Q(
                    metric="status_update",
                    reminded_at__isnull=True,
                    met_at__isnull=True,
                    cancelled_at__isnull=True,
                    paused_at__isnull=True,
                ),
            ),
            # The SLA summary reads clocks by when they ended, over a window: only ended ones.
            models.Index(
                fields=["met_at"], name="clock_met_idx", condition=Q(met_at__isnull=False)
            ),
            models.Index(
                fields=["breached_at"],
                name="clock_breached_idx",
                condition=Q(breached_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_running(self) -> bool:
        return self.met_at is None and self.cancelled_at is None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class Breach(models.Model):
    """A missed promise, recorded once, the moment the sweep sees its clock past due."""

    clock = models.OneToOneField(Clock, on_delete=models.CASCADE, related_name="breach")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="breaches")
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="breaches")
    metric = models.CharField(_("metric"), max_length=20, choices=Clock.MetricChoices.choices)
    due_at = models.DateTimeField(_("due"))
    detected_at = models.DateTimeField(_("detected"))
    managers_notified_at = models.DateTimeField(_("managers notified"), null=True, blank=True)

    class Meta:
        ordering = ["-detected_at"]
        verbose_name = _("SLA breach")
        verbose_name_plural = _("SLA breaches")
        indexes = [
            models.Index(fields=["team", "metric", "detected_at"], name="breach_report_idx"),
            models.Index(fields=["-detected_at"], name="breach_recent_idx"),
            # Breaches managers have not heard of yet: every sweep reads them, so the read must
            # not grow with every breach ever recorded.
            models.Index(
                fields=["detected_at"],
                name="breach_unnotified_idx",
                condition=Q(managers_notified_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} breached {self.detected_at:%Y-%m-%d %H:%M}"

    @property
    def late_seconds(self) -> int:
        """How late the breach was detected: the sweep's lag, measured in bench/."""
        return max(0, int((self.detected_at - self.due_at).total_seconds()))
