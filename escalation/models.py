"""Escalation as data: where a request belongs (routing rules), how it moved between the tiers
(escalations), what a team was asked without taking it over (consultations), what management
was asked to approve (approval requests), and the overflow of the first line at high load."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Reason(models.TextChoices):
    """Why a request goes to specialists, in the support guide's words ("Quando si esegue
    l'escalation"). A rule names one; the customer is told its explanation."""

    HIGH_VOLUME = "high_volume", _("High volume for our support team")
    SERVER = "server", _("VPS or dedicated server problem")
    COMPLEX = "complex", _("Complex or unusual problem")
    BILLING = "billing", _("Refund or payment problem")
    ON_SITE = "on_site", _("Work on site at the data center")
    APPROVAL = "approval", _("Needs the approval of management")


# What the customer is told about each reason: the guide's own explanations.
REASON_EXPLAINED = {
    Reason.HIGH_VOLUME: _(
        "Our support team has many requests right now: to answer you sooner, we send your "
        "request to the experts who are available."
    ),
    Reason.SERVER: _(
        "Problems with VPS and dedicated servers go to our system administrators, who have the "
        "right tools and access."
    ),
    Reason.COMPLEX: _(
        "Your request needs expertise beyond standard support, for example a custom server "
        "configuration."
    ),
    Reason.BILLING: _(
        "Refunds and payment problems are handled by our billing team, who can look into your "
        "payments directly."
    ),
    Reason.ON_SITE: _(
        "This needs work on your server or its infrastructure, carried out on site by the "
        "technicians of the data center."
    ),
    Reason.APPROVAL: _(
        "Billing credits, account exceptions and special requests need the approval of our "
        "management."
    ),
}


class ApprovalKind(models.TextChoices):
    BILLING_CREDIT = "billing_credit", _("Billing credit")
    ACCOUNT_EXCEPTION = "account_exception", _("Account exception")
    SPECIAL = "special", _("Special request")


class RoutingRule(models.Model):
    """Where a request of a kind belongs: a team, the data-center team of the server's site, or
    management's approval. Rules are read in order; the first that matches decides.

    A rule suggests: the first line keeps first contact and the desk shows the suggestion,
    unless the rule routes directly (the admin's choice), or the first line is overloaded and
    the rule's team is at work (the overflow).
    """

    class Target(models.TextChoices):
        TEAM = "team", _("A team")
        SITE_DATACENTER = "site_datacenter", _("The data-center team of the server's site")
        APPROVAL = "approval", _("Management approval")

    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    categories = models.JSONField(
        _("categories"),
        default=list,
        blank=True,
        help_text=_("The request's category is one of these (none: any category)."),
    )
    words = models.TextField(
        _("words"),
        blank=True,
        help_text=_(
            "One word or phrase per line; the subject or the first message contains one of "
            "them (none: any text). Case does not matter."
        ),
    )
    sites = models.JSONField(
        _("data-center sites"),
        default=list,
        blank=True,
        help_text=_("The server's site is one of these (none: any site, or none given)."),
    )
    target = models.CharField(_("goes to"), max_length=20, choices=Target.choices)
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("team"),
    )
    approval_kind = models.CharField(
        _("approval"), max_length=20, choices=ApprovalKind.choices, blank=True
    )
    reason = models.CharField(_("reason told to the customer"), max_length=20, choices=Reason)
    route_directly = models.BooleanField(
        _("route directly"),
        default=False,
        help_text=_(
            "Send matching requests to the team as soon as they arrive, instead of leaving "
            "first contact to the first line with a suggestion."
        ),
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed"), null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(target="team", team__isnull=False)
                | Q(target="site_datacenter", team__isnull=True)
                | Q(target="approval", team__isnull=True),
                name="routingrule_team_when_team_target",
            ),
            models.CheckConstraint(
                condition=~Q(target="approval") | ~Q(approval_kind=""),
                name="routingrule_kind_when_approval",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def word_list(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.words.splitlines() if line.strip())


class Escalation(models.Model):
    """A request moved from one team to another: by an agent, by a rule, or by the overflow."""

    class Kind(models.TextChoices):
        AGENT = "agent", _("by an agent")
        RULE = "rule", _("by a routing rule")
        OVERFLOW = "overflow", _("at high load")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="escalations"
    )
    from_team = models.ForeignKey(
        "teams.Team", on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    to_team = models.ForeignKey(
        "teams.Team", on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    kind = models.CharField(_("how"), max_length=10, choices=Kind.choices)
    reason = models.TextField(_("reason"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by whom"),
    )
    rule = models.ForeignKey(
        RoutingRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rule"),
    )
    at = models.DateTimeField(_("when"))

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_team=F("to_team")), name="escalation_moves_between_teams"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["agent", "rule", "overflow"]), name="escalation_kind_known"
            ),
            models.CheckConstraint(
                condition=~Q(kind="agent") | Q(by__isnull=False), name="escalation_agent_named"
            ),
        ]
        indexes = [
            models.Index(fields=["ticket", "at"], name="escalation_ticket_idx"),
            models.Index(fields=["at"], name="escalation_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.from_team_id} -> {self.to_team_id}"


class Consultation(models.Model):
    """A team asked for help without taking the request over (the guide: the first line "can
    turn to the data-center team"). It sees the ticket while asked and answers with an
    internal note; the clocks stay with the owner."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="consultations"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.PROTECT, related_name="consultations", verbose_name=_("team")
    )
    note = models.TextField(_("question"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    asked_at = models.DateTimeField(_("asked"))
    answer = models.ForeignKey(
        "tickets.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        ordering = ["asked_at", "id"]
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "team"],
                condition=Q(state="open"),
                name="consultation_one_open_per_team",
            ),
            models.CheckConstraint(
                condition=Q(state="open", answered_at__isnull=True)
                | Q(state="answered", answered_at__isnull=False),
                name="consultation_answered_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["team", "asked_at"],
                condition=Q(state="open"),
                name="consultation_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} asks {self.team_id}"


class ApprovalRequest(models.Model):
    """Something only management may grant (a billing credit, an account exception, a special
    request): asked in the ticket's thread, decided once, by a manager who did not ask."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # Empty for a credit covering the customers of an outage (incidents.Credit): one decision,
    # told in each of their threads.
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="approvals",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ApprovalKind.choices)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    reason = models.TextField(_("reason"))
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    note = models.TextField(_("decision note"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(state="pending"), name="approval_one_pending"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=Decimal(0)),
                name="approval_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True, currency="")
                | Q(amount__isnull=False, currency__regex=r"^[A-Z]{3}$"),
                name="approval_amount_has_currency",
            ),
            models.CheckConstraint(
                condition=~Q(kind="billing_credit") | Q(amount__isnull=False),
                name="approval_credit_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(ticket__isnull=False) | Q(kind="billing_credit"),
                name="approval_without_ticket_is_a_credit",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "withdrawn"], decided_by__isnull=True)
                | Q(state__in=["approved", "rejected"], decided_by__isnull=False),
                name="approval_decided_by_a_manager",
            ),
            models.CheckConstraint(
                condition=Q(state="pending", decided_at__isnull=True)
                | ~Q(state="pending") & Q(decided_at__isnull=False),
                name="approval_ended_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["requested_at"], condition=Q(state="pending"), name="approval_pending_idx"
            ),
            models.Index(fields=["decided_at"], name="approval_decided_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind} ({self.state})"


class OverflowPolicy(models.Model):
    """When the first line counts as overloaded (the guide's "elevato volume di lavoro"): new
    requests that a rule marks as specialist work then go straight to that team while it is
    at work. Two thresholds, to start and to stop, so that a queue around one number does not
    switch the overflow on and off every sweep. One row, edited in the admin."""

    enabled = models.BooleanField(_("enabled"), default=False)
    start_unanswered = models.PositiveIntegerField(
        _("starts at unanswered requests"),
        default=15,
        help_text=_("Requests in the first line still waiting for a first reply."),
    )
    start_wait_seconds = models.PositiveIntegerField(
        _("or when the oldest has waited (seconds)"), default=420
    )
    stop_unanswered = models.PositiveIntegerField(_("stops at unanswered requests"), default=8)
    stop_wait_seconds = models.PositiveIntegerField(
        _("and the oldest has waited at most (seconds)"), default=180
    )
    active_since = models.DateTimeField(_("overflowing since"), null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("overflow policy")
        verbose_name_plural = _("overflow policy")
        constraints = [
            models.CheckConstraint(
                condition=Q(stop_unanswered__lt=F("start_unanswered")),
                name="overflow_stops_below_start_count",
            ),
            models.CheckConstraint(
                condition=Q(stop_wait_seconds__lt=F("start_wait_seconds")),
                name="overflow_stops_below_start_wait",
            ),
        ]

    def __str__(self) -> str:
        return str(_("overflow policy"))


class OverflowPeriod(models.Model):
    """One time the overflow was on: when, and how loaded the first line was at its worst."""

    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    peak_unanswered = models.PositiveIntegerField(default=0)
    peak_wait_seconds = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(_("requests routed"), default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("overflow period")
        verbose_name_plural = _("overflow periods")
        constraints = [
            models.UniqueConstraint(
                fields=["ended_at"], condition=Q(ended_at__isnull=True), name="overflow_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M}"
