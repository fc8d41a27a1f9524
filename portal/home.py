"""The home page: the guide's promises and the tiers of the support structure with their hours."""

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from teams.models import Team

# What each kind of team does, in the support guide's words.
TEAM_ROLES = {
    Team.Kind.SUPPORT: gettext_lazy(
        "They handle requests, FAQs, diagnostics, billing and orders. When needed, they can "
        "turn to the data center team."
    ),
    Team.Kind.BILLING: gettext_lazy(
        "Billing and payments, including complex or problematic tickets (refunds, payment "
        "gateway problems, etc.)."
    ),
    Team.Kind.DATACENTER: gettext_lazy(
        "Work on servers and infrastructure, carried out on site at the data center."
    ),
    Team.Kind.SYSADMIN: gettext_lazy("Complex technical problems and escalations."),
}

FULL_DAY = ((0, 1440),)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def hours_summary(ranges_by_weekday: dict[int, tuple[tuple[int, int], ...]], zone: str) -> str:
    """ "Mon-Fri, 09:00-18:00 CET" from a team's hours; "24/7" when it never closes."""
    if all(ranges_by_weekday.get(day) == FULL_DAY for day in range(7)):
        return "24/7"
    parts = []
    # Consecutive weekdays with the same ranges read as one span: Mon-Fri.
    for ranges, days in groupby(range(7), key=lambda day: ranges_by_weekday.get(day, ())):
        days = list(days)
        if not ranges:
            continue
        first, last = capfirst(WEEKDAYS_ABBR[days[0]]), capfirst(WEEKDAYS_ABBR[days[-1]])
        span = first if len(days) == 1 else f"{first}-{last}"
        times = ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in ranges)
        parts.append(f"{span}, {times}")
    if not parts:
        return _("No regular hours")
    return f"{'; '.join(parts)} {zone}"


def _support_tiers() -> list[dict]:
    """The tiered teams the customer may meet, with their hours; empty before setup."""
    teams = Team.objects.filter(active=True, tier__isnull=False).prefetch_related("working_hours")
    tiers = []
    for team in teams.order_by("tier", "kind", "site"):
        ranges: dict[int, tuple[tuple[int, int], ...]] = {}
        for row in team.working_hours.all():
            ranges[row.weekday] = (*ranges.get(row.weekday, ()), (row.start_minute, row.end_minute))
        name = team.get_kind_display()
        if team.site:
            name = f"{name} ({team.site.upper()})"
        tiers.append(
            {
                "tier": team.tier,
                "name": name,
                "hours": hours_summary(ranges, team.timezone),
                "role": TEAM_ROLES.get(team.kind, ""),
            }
        )
    return tiers


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"tiers": _support_tiers()})
