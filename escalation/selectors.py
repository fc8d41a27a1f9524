"""Reads of the support structure that interfaces share."""

from django.db.models import QuerySet

from escalation.models import Team


def teams_with_calendars(teams: QuerySet[Team] | None = None) -> QuerySet[Team]:
    """Teams with what `escalation.services.team_calendar` reads prefetched: a page listing
    any number of teams with their calendars costs three queries."""
    teams = Team.objects.all() if teams is None else teams
    return teams.prefetch_related("working_hours", "holidays")
