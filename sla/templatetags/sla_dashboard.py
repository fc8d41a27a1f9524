"""Template helpers for the SLA dashboard and the links to it."""

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

from accounts.roles import oversees_everything
from core.formats import duration_text
from sla.models import Clock

register = template.Library()


@register.filter
def sees_sla_dashboard(user) -> bool:
    """Managers and admins; the role is cached on the request's user, so links cost one query
    per request at most."""
    return oversees_everything(user)


@register.filter
def seconds_text(seconds: int | None) -> str:
    """A duration as the agents' desk writes it ("12 min", "3 h 5 min"), seconds under a
    minute (the acknowledgement's scale); a dash for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return gettext("%(seconds)d s") % {"seconds": seconds}
    return duration_text(seconds)


@register.filter
def percent(fraction: float | None) -> str:
    """0.9512 -> "95.1%" in the active language's number format; a dash for none."""
    return "—" if fraction is None else f"{number_format(fraction * 100, 1)}%"


@register.filter
def metric_label(metric: str) -> str:
    """The promise's name in the active language."""
    return str(Clock.MetricChoices(metric).label)
