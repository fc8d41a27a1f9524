"""The rest of the conversation, read-only: messages, the audit log, the outbox."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from desk.admin.common import VisibleTicketsMixin, is_manager_request
from tickets.models import Event, Message, OutboundEmail

# Attachments have no list of their own: they are reached from their ticket's page, through
# the one permission-checked download above.


@admin.register(Message)
class MessageAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ["ticket", "kind", "author", "created_at", "excerpt"]
    list_filter = ["kind", "channel"]
    list_select_related = ["ticket", "author"]
    search_fields = ["ticket__reference", "body"]
    fields = ["ticket", "kind", "channel", "author", "created_at", "body", "email_message_id"]
    readonly_fields = fields

    @admin.display(description=_("body"))
    def excerpt(self, message):
        return message.body[:80]


@admin.register(Event)
class EventAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    """The audit log: append-only, so nobody adds, changes or deletes a row here."""

    list_display = ["at", "ticket", "action", "actor", "before", "after"]
    list_filter = ["action"]
    list_select_related = ["ticket", "actor"]
    search_fields = ["ticket__reference"]
    fields = ["ticket", "action", "actor", "at", "before", "after"]
    readonly_fields = fields


@admin.register(OutboundEmail)
class OutboundEmailAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    """The outbox, for managers who check what a customer was told and whether it left."""

    list_display = ["created_at", "ticket", "purpose", "to", "state", "attempts", "sent_at"]
    list_filter = ["state", "purpose"]
    list_select_related = ["ticket"]
    search_fields = ["ticket__reference", "to"]
    # The HTML body is the text body rendered for mail clients; it is not shown as markup here.
    fields = readonly_fields = [
        "ticket",
        "message",
        "purpose",
        "to",
        "subject",
        "body_text",
        "rfc_message_id",
        "in_reply_to",
        "references",
        "state",
        "attempts",
        "created_at",
        "claimed_at",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]

    def has_module_permission(self, request):
        return is_manager_request(request)

    def has_view_permission(self, request, obj=None):
        return is_manager_request(request)
