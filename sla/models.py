"""The promises on a clock: one Clock per ticket and metric, a Breach when one is missed."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from sla.policy import Metric


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
        "escalation.Team",
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The team whose working hours run this clock."),
    )
    business = models.BooleanField(_("on working hours"), default=False)
    target_seconds = models.PositiveIntegerField(_("target (seconds)"))
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
    team = models.ForeignKey("escalation.Team", on_delete=models.PROTECT, related_name="breaches")
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
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} breached {self.detected_at:%Y-%m-%d %H:%M}"

    @property
    def late_seconds(self) -> int:
        """How late the breach was detected: the sweep's lag, measured in bench/."""
        return max(0, int((self.detected_at - self.due_at).total_seconds()))
