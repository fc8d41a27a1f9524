"""The conversation: one ticket is one thread, whatever the channel it arrives by."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    BILLING = "billing", _("Billing and payments")
    ACCESS = "access", _("Access to my account or panel")
    ORDERS = "orders", _("Orders and new services")
    VPS = "vps", _("VPS problem")
    DEDICATED = "dedicated", _("Dedicated server problem")
    NETWORK = "network", _("Network and connectivity")
    CUSTOM_CONFIG = "custom_config", _("Custom or special configuration")
    BILLING_CREDIT = "billing_credit", _("Credit request (e.g. for an outage)")
    ACCOUNT_EXCEPTION = "account_exception", _("Account exception")
    DATACENTER = "datacenter", _("On-site work in the data center")
    OTHER = "other", _("Something else")


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    WAITING_ON_CUSTOMER = "waiting_on_customer", _("Waiting on you")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Chat")
    API = "api", _("API")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


# Statuses in which the ticket is still someone's work.
ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_ON_CUSTOMER, Status.PENDING_APPROVAL)


class ReferenceCounter(models.Model):
    """Per-year sequence for human references (HD-2026-000123), bumped by one UPDATE."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("reference counter")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Ticket(models.Model):
    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("customer"),
    )
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("team"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    data_center = models.SlugField(
        _("data-center site"), max_length=20, blank=True, help_text=_("e.g. ams, mia")
    )
    # Set by the agent for a non-standard request: it becomes the resolution target.
    estimate_seconds = models.PositiveIntegerField(_("estimate (seconds)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    last_activity_at = models.DateTimeField(_("last activity"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # The running, unpaused SLA clock due first; None while no promise runs. A copy kept by
    # sla.services on every change of the clocks, so that the queue sorts and filters on an
    # index instead of a subquery per ticket (bench/lists.py).
    next_due_at = models.DateTimeField(_("next deadline"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=Category.values), name="ticket_category_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="ticket_status_known"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="ticket_channel_known"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=Priority.values), name="ticket_priority_known"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[Status.RESOLVED, Status.CLOSED])
                | Q(resolved_at__isnull=False),
                name="ticket_resolved_has_resolved_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.CLOSED) | Q(closed_at__isnull=False),
                name="ticket_closed_has_closed_at",
            ),
            models.CheckConstraint(
                condition=Q(estimate_seconds__isnull=True) | Q(estimate_seconds__gt=0),
                name="ticket_estimate_positive",
            ),
        ]
        indexes = [
            # Agents' queues: a team's tickets by status, newest activity first.
            models.Index(fields=["team", "status", "-last_activity_at"], name="ticket_queue_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            # "My tickets" for a customer.
            models.Index(fields=["customer", "-last_activity_at"], name="ticket_customer_idx"),
            # Managers' and API lists across teams: newest first, or by status.
            models.Index(fields=["-created_at"], name="ticket_recent_idx"),
            models.Index(fields=["status", "-last_activity_at"], name="ticket_status_idx"),
            # The API list's order: a page is read off the index, not sorted out of every row.
            models.Index(fields=["-last_activity_at", "-id"], name="ticket_activity_idx"),
            # The queue's order (next deadline, then oldest; the admin adds -id): a page is
            # read off the index; tickets with no running promise (NULL) come last.
            models.Index(fields=["next_due_at", "created_at", "-id"], name="ticket_next_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Message(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")
        INTERNAL = "internal", _("Internal note")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_messages",
    )
    body = models.TextField(_("body"))
    # Sent by the client so that a resend (a reconnecting chat, a retried API call) is
    # recognised and stored once.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (NULL = none, unique when set)
    # RFC 5322 Message-ID of the email that carried it (in or out), to thread replies.
    email_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        # By id, as the thread index and the chat replay (`after=<id>`) read it.
        ordering = ["id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id_per_ticket",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["customer", "agent", "system", "internal"]),
                name="message_kind_known",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="message_channel_known"
            ),
            # An email is stored once per thread, however often the MTA delivers it.
            models.UniqueConstraint(
                fields=["ticket", "email_message_id"],
                condition=~Q(email_message_id=""),
                name="message_unique_email_id_per_ticket",
            ),
            # System messages speak for the service; every other kind has a person behind it,
            # unless that person's account was deleted later (SET_NULL).
            models.CheckConstraint(
                condition=~Q(kind="system") | Q(author__isnull=True),
                name="message_system_has_no_author",
            ),
        ]
        indexes = [models.Index(fields=["ticket", "id"], name="message_thread_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id}#{self.pk} {self.kind}"

    @property
    def is_public(self) -> bool:
        return self.kind != self.Kind.INTERNAL


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name is not the customer's: it cannot collide, traverse or be guessed.
    return f"tickets/{instance.message.ticket_id}/{instance.token}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    token = models.CharField(max_length=32, unique=True, editable=False)
    file = models.FileField(upload_to=attachment_path, max_length=255)
    filename = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename


class Event(models.Model):
    """Append-only log of every state change of a ticket: who, what, when, before, after.

    Rows are never updated (a database trigger refuses it); they go only with their ticket.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    # PROTECT, not SET_NULL: nulling the actor is an UPDATE, which the trigger refuses, and the
    # log must keep who acted. Accounts with history are deactivated, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=40)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["ticket", "at"], name="event_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("events are append-only")
        super().save(*args, **kwargs)


class Assignment(models.Model):
    """Who worked a ticket: an agent keeps seeing a ticket once assigned to it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="assignments")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ticket_assignments"
    )
    assigned_at = models.DateTimeField()

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(fields=["agent", "ticket"], name="assignment_unique_agent")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} -> {self.agent_id}"


class TeamAccess(models.Model):
    """A team that may see a ticket it does not own: one asked for help on it (a consultation)
    keeps seeing it, as an agent keeps seeing a ticket once assigned to them."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="team_accesses")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()

    class Meta:
        verbose_name = _("team access")
        verbose_name_plural = _("team accesses")
        constraints = [
            models.UniqueConstraint(fields=["team", "ticket"], name="teamaccess_unique_team")
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} seen by {self.team_id}"


class OutboundEmail(models.Model):
    """The outbox: an email written in the same transaction as the change that causes it.

    A task started on commit delivers it; the sweep retries what is still pending, so a crash
    between COMMIT and enqueue loses nothing. A conditional UPDATE claims a row before sending,
    so that two deliveries of the task never send it twice.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="outbound_emails"
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="outbound_emails"
    )
    purpose = models.CharField(max_length=40)
    to = models.EmailField()
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    rfc_message_id = models.CharField("Message-ID", max_length=255, unique=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    # The customer's signed reply address (tickets.reply_address); empty: the support address.
    reply_to = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("outbound email")
        verbose_name_plural = _("outbound emails")
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_time"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=Q(state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} to {self.to} ({self.state})"


class InboundEmail(models.Model):
    """Every email that reached filing and what became of it: the inbound log, and the mail
    held for a manager's review.

    The raw message is kept only while held (a constraint says so): in the row, not in a
    file, so that holding it, filing it and forgetting it are each one transaction with the
    state, and nothing is left behind by a crash. Its size is bounded by EMAIL_MAX_BYTES,
    checked before the message is read, and held mail by the mail_in door's limits.

    A Message-ID is recorded once (when there is one): the insert is the claim of a delivery,
    so a redelivery racing the first one waits for it and then files nothing.
    """

    class State(models.TextChoices):
        FILED = "filed", _("Filed")
        HELD = "held", _("Held for review")
        IGNORED = "ignored", _("Ignored")
        REFUSED = "refused", _("Refused")
        RELEASED = "released", _("Filed after review")
        DISCARDED = "discarded", _("Discarded after review")

    class Reason(models.TextChoices):
        STAFF_SENDER = "staff_sender", _("From a staff address")
        DMARC_FAIL = "dmarc_fail", _("DMARC failed for the sender's domain")
        AUTO_REPLY = "auto_reply", _("Automatic reply")
        BOUNCE = "bounce", _("Bounce")
        LOOP = "loop", _("Our own email")
        DUPLICATE = "duplicate", _("Delivered again")
        TOO_LARGE = "too_large", _("Too large")
        MALFORMED = "malformed", _("Malformed")
        UNKNOWN_SENDER = "unknown_sender", _("Unknown sender")
        DISABLED_SENDER = "disabled_sender", _("Disabled account")

    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    sender = models.CharField(_("sender"), max_length=320, blank=True)
    recipients = models.TextField(_("recipients"), blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_emails",
        verbose_name=_("ticket"),
    )
    raw = models.BinaryField(null=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("inbound email")
        verbose_name_plural = _("inbound emails")
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"],
                condition=~Q(message_id=""),
                name="inbound_unique_message_id",
            ),
            models.CheckConstraint(
                condition=Q(
                    state__in=["filed", "held", "ignored", "refused", "released", "discarded"]
                ),
                name="inbound_state_known",
            ),
            models.CheckConstraint(
                condition=Q(state="held", raw__isnull=False)
                | (~Q(state="held") & Q(raw__isnull=True)),
                name="inbound_raw_only_while_held",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["released", "discarded"]) | Q(reviewed_at__isnull=False),
                name="inbound_reviewed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-received_at"], name="inbound_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sender or '?'} {self.message_id or '(no Message-ID)'} ({self.state})"
