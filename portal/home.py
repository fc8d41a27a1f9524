"""The home page: the guide's promises and the tiers of the support structure with their hours."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from teams.models import Team
from teams.selectors import team_hours_text, team_public_name

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


def _support_tiers() -> list[dict]:
    """The tiered teams the customer may meet, with their hours; empty before setup."""
    teams = Team.objects.filter(active=True, tier__isnull=False).prefetch_related("working_hours")
    tiers = []
    for team in teams.order_by("tier", "kind", "site"):
        tiers.append(
            {
                "tier": team.tier,
                "name": team_public_name(team),
                "hours": team_hours_text(team),
                "role": TEAM_ROLES.get(team.kind, ""),
            }
        )
    return tiers


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"tiers": _support_tiers()})
