"""What every page of the desk shares: who is staff, the deadline badge, the read-only rules."""

import datetime

from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext

from accounts.roles import is_staff_role, oversees_everything, user_role
from core.formats import duration_text
from sla.models import Clock
from tickets.selectors import tickets_visible_to

# "Due soon" in the queue's SLA filter and the amber badge.
DUE_SOON = datetime.timedelta(minutes=5)


def is_staff_request(request: HttpRequest) -> bool:
    return is_staff_role(user_role(request.user))


def is_manager_request(request: HttpRequest) -> bool:
    return oversees_everything(request.user)


def running_clocks() -> QuerySet[Clock]:
    """Clocks of the ticket in the outer query that still hold a promise."""
    return Clock.objects.filter(
        ticket_id=OuterRef("pk"), met_at__isnull=True, cancelled_at__isnull=True
    )


def deadline_badge(due_at: datetime.datetime | None, now: datetime.datetime) -> str:
    """A countdown to the next promise: green, amber within five minutes, red once late."""
    if due_at is None:
        return "—"
    seconds = (due_at - now).total_seconds()
    if seconds < 0:
        state, text = "late", gettext("%(duration)s late") % {"duration": duration_text(-seconds)}
    else:
        state = "soon" if seconds <= DUE_SOON.total_seconds() else "ok"
        text = gettext("in %(duration)s") % {"duration": duration_text(seconds)}
    return format_html(
        '<time class="hd-deadline hd-deadline--{}" datetime="{}" title="{}">{}</time>',
        state,
        due_at.isoformat(),
        timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M:%S %Z"),
        text,
    )


class StaffOnlyMixin:
    """Staff see by role (agents carry no Django model permissions); nobody edits history."""

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VisibleTicketsMixin(StaffOnlyMixin):
    """Rows that belong to a ticket: only those of tickets the user may see."""

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(ticket__in=tickets_visible_to(request.user).values("pk"))
        )
