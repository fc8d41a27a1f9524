"""What live chat adds to the conversation: the wait for an agent, and how far each person read."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tickets.models import Message, Ticket


class Chat(models.Model):
    """A customer waiting in live chat for an agent, from `started_at` until it is settled:
    an agent took it, or the wait ran out and the conversation went on by email.

    While the conversation is a chat, agents' replies are not emailed one by one: those the
    customer leaves unread are emailed together once `unread_email_due_at` has passed.
    """

    class Outcome(models.TextChoices):
        TAKEN = "taken", _("taken by an agent")
        EMAIL = "email", _("continued by email")

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="chat"
    )
    started_at = models.DateTimeField(_("started"))
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    # Set by the first reply not emailed yet, cleared by the email (or by finding them read).
    unread_email_due_at = models.DateTimeField(_("unread replies email due"), null=True, blank=True)
    # The last reply an unread-replies email quoted: the next email starts after it.
    unread_emailed_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("chat")
        verbose_name_plural = _("chats")
        constraints = [
            models.CheckConstraint(
                condition=Q(settled_at__isnull=True, outcome="")
                | Q(settled_at__isnull=False, outcome__in=["taken", "email"]),
                name="chat_outcome_when_settled",
            )
        ]
        # The sweeps read only chats still waiting, or with an email due: their cost follows
        # those, not every chat.
        indexes = [
            models.Index(
                fields=["started_at"],
                condition=Q(settled_at__isnull=True),
                name="chat_waiting_idx",
            ),
            models.Index(
                fields=["unread_email_due_at"],
                condition=Q(unread_email_due_at__isnull=False),
                name="chat_unread_email_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"chat {self.ticket_id}"


class ReadMark(models.Model):
    """The last message of a ticket a person has read; it only moves forward."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="read_marks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_marks"
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(_("read"))

    class Meta:
        verbose_name = _("read mark")
        verbose_name_plural = _("read marks")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="readmark_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.ticket_id} up to {self.message_id}"
