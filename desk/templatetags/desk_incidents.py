"""The surge banner of the desk's home and ticket queue: one query, whatever the page."""

from django import template

from incidents.selectors import surges_open

register = template.Library()


@register.simple_tag
def open_surges() -> list:
    """Surges no incident answers yet, the oldest first."""
    return list(surges_open().order_by("started_at", "id"))
