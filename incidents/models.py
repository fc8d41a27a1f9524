"""One outage, many customers: the incident, its public updates and internal notes, the tickets
linked to it, the delivery of each update into each linked thread (exactly once), the surges
that suggest opening one, the credits for it, and who followed it instead of writing."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    INVESTIGATING = "investigating", _("Investigating")
    IDENTIFIED = "identified", _("Identified")
    MONITORING = "monitoring", _("Monitoring")
    RESOLVED = "resolved", _("Resolved")


OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


class Incident(models.Model):
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("public description"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.INVESTIGATING
    )
    data_center = models.SlugField(
        _("data-center site"), max_length=20, blank=True, help_text=_("e.g. ams, mia")
    )
    service = models.CharField(
        _("service"), max_length=100, blank=True, help_text=_("What is affected, in words.")
    )
    categories = models.JSONField(
        _("categories of new requests it covers"),
        default=list,
        blank=True,
        help_text=_(
            "A new request of one of these categories (at the incident's site, when it has one) "
            "is linked on arrival."
        ),
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("lead"),
    )
    started_at = models.DateTimeField(_("started"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="incident_status_known"
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | ~Q(status="resolved") & Q(resolved_at__isnull=True),
                name="incident_resolved_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-started_at"],
                condition=~Q(status="resolved"),
                name="incident_open_idx",
            ),
            models.Index(fields=["-resolved_at"], name="incident_resolved_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED


class IncidentUpdate(models.Model):
    """What we say in public, as written: on the status page, and in every linked thread."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    body = models.TextField(_("update"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("posted"))

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("public update")
        verbose_name_plural = _("public updates")
        indexes = [models.Index(fields=["incident", "created_at"], name="incident_update_idx")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.status} {self.created_at:%Y-%m-%d %H:%M}"


class IncidentNote(models.Model):
    """For the staff working the incident only."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(_("note"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("written"))

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")

    def __str__(self) -> str:
        return f"{self.incident_id} note {self.pk}"


class IncidentLink(models.Model):
    """A ticket about this incident: it hears every public update. One incident per ticket."""

    ticket = models.OneToOneField(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="incident_link",
        primary_key=True,
    )
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="links")
    linked_at = models.DateTimeField(_("linked"))
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: linked on arrival, by the incident's site or categories."),
    )

    class Meta:
        verbose_name = _("linked ticket")
        verbose_name_plural = _("linked tickets")
        indexes = [models.Index(fields=["incident", "ticket"], name="incident_link_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} -> {self.incident_id}"


class Delivery(models.Model):
    """One public update into one linked thread: the outbox of the fan-out. A worker claims
    pending rows, posts each in its thread and marks it in the same transaction, so a worker
    that dies mid-way leaves the rest for the next, and none is told twice."""

    update = models.ForeignKey(IncidentUpdate, on_delete=models.CASCADE, related_name="deliveries")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "tickets.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["update", "ticket"], name="delivery_once_per_ticket")
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(delivered_at__isnull=True),
                name="delivery_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"update {self.update_id} -> {self.ticket_id}"


class Surge(models.Model):
    """Requests from one site arriving faster than the threshold with no incident covering
    them: the desk and the team on shift are told once, with a suggestion to open one; it ends
    when the pace falls back below half the threshold."""

    site = models.SlugField(_("site"), max_length=20)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    peak_count = models.PositiveIntegerField(_("requests in the window, at most"), default=0)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("surge")
        verbose_name_plural = _("surges")
        constraints = [
            models.UniqueConstraint(
                fields=["site"], condition=Q(ended_at__isnull=True), name="surge_one_open_per_site"
            )
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.started_at:%Y-%m-%d %H:%M}"


class SurgePolicy(models.Model):
    """How many requests from one site in how many minutes make a surge. One row, edited in
    the admin."""

    enabled = models.BooleanField(_("enabled"), default=True)
    requests = models.PositiveIntegerField(_("requests"), default=5)
    minutes = models.PositiveIntegerField(_("in minutes"), default=10)

    class Meta:
        verbose_name = _("surge policy")
        verbose_name_plural = _("surge policy")
        constraints = [
            models.CheckConstraint(condition=Q(requests__gte=2), name="surge_at_least_two"),
            models.CheckConstraint(condition=Q(minutes__gte=1), name="surge_window_positive"),
        ]

    def __str__(self) -> str:
        return str(_("surge policy"))


class Credit(models.Model):
    """One credit for the outage, covering its customers, decided once by management (an
    escalation.ApprovalRequest); each linked customer's amount is told in their thread."""

    class Rule(models.TextChoices):
        FIXED = "fixed", _("A fixed amount per customer")
        SHARE = "share", _("A share of each customer's monthly fee")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="credits")
    approval = models.OneToOneField(
        "escalation.ApprovalRequest", on_delete=models.CASCADE, related_name="incident_credit"
    )
    rule = models.CharField(_("rule"), max_length=10, choices=Rule.choices)
    amount = models.DecimalField(
        _("amount per customer"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    share_percent = models.DecimalField(
        _("share of the monthly fee (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3)

    class Meta:
        verbose_name = _("credit")
        verbose_name_plural = _("credits")
        constraints = [
            models.CheckConstraint(
                condition=Q(rule="fixed", amount__gt=0, share_percent__isnull=True)
                | Q(rule="share", share_percent__gt=0, share_percent__lte=100),
                name="credit_rule_has_its_figure",
            )
        ]

    def __str__(self) -> str:
        return f"credit {self.pk} of incident {self.incident_id}"


class CreditLine(models.Model):
    """One customer's part of a credit: the amount, and when the decision reached their thread
    (exactly once: claimed with the message posted)."""

    credit = models.ForeignKey(Credit, on_delete=models.CASCADE, related_name="lines")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("credit line")
        verbose_name_plural = _("credit lines")
        constraints = [
            models.UniqueConstraint(fields=["credit", "ticket"], name="creditline_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditline_positive"),
        ]
        indexes = [
            models.Index(
                fields=["credit"], condition=Q(told_at__isnull=True), name="creditline_pending_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.credit_id}: {self.ticket_id} {self.amount}"


class Follow(models.Model):
    """A customer who followed an open incident from the new-ticket page or the chat's start
    instead of writing: the deflection managers see."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="follows")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    followed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        constraints = [models.UniqueConstraint(fields=["incident", "customer"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.customer_id} follows {self.incident_id}"
