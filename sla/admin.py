"""SLA clocks and breaches, read-only: the sweep and the services write them, people read."""

from django.contrib import admin

from sla.models import Breach, Clock
from tickets.admin import VisibleTicketsMixin


@admin.register(Clock)
class ClockAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = [
        "ticket",
        "metric",
        "team",
        "due_at",
        "met_at",
        "breached_at",
        "paused_at",
        "cancelled_at",
    ]
    list_filter = ["metric", "team", "business"]
    list_select_related = ["ticket", "team"]
    search_fields = ["ticket__reference"]
    date_hierarchy = "due_at"
    fields = readonly_fields = [
        "ticket",
        "metric",
        "team",
        "business",
        "target_seconds",
        "started_at",
        "due_at",
        "met_at",
        "breached_at",
        "cancelled_at",
        "paused_at",
        "paused_seconds",
        "remaining_seconds",
        "warned_at",
    ]


@admin.register(Breach)
class BreachAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ["detected_at", "ticket", "team", "metric", "due_at", "managers_notified_at"]
    list_filter = ["metric", "team"]
    list_select_related = ["ticket", "team"]
    search_fields = ["ticket__reference"]
    date_hierarchy = "detected_at"
    fields = readonly_fields = [
        "ticket",
        "clock",
        "team",
        "metric",
        "due_at",
        "detected_at",
        "managers_notified_at",
    ]
