"""The queue's filters: the agent's own queue by default, consultations asked of the agent's
teams, assignee, SLA state."""

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from desk.admin.common import DUE_SOON, running_clocks
from escalation.models import Consultation
from incidents.models import IncidentLink
from incidents.selectors import incidents_open
from teams.models import TeamMembership
from tickets.models import ACTIVE_STATUSES


def asked_of_teams(team_ids) -> QuerySet:
    """Ids of the tickets that wait on an answer of one of these teams."""
    return Consultation.objects.filter(state=Consultation.State.OPEN, team_id__in=team_ids).values(
        "ticket_id"
    )


class QueueFilter(admin.SimpleListFilter):
    """The default view is the agent's own queue (their teams' open tickets and those their
    teams are asked about); clearing it shows all they may see."""

    title = _("queue")
    parameter_name = "queue"
    MINE = "mine"
    EVERYTHING = "all"

    def lookups(self, request, model_admin):
        return [
            (self.MINE, _("My teams, open")),
            (self.EVERYTHING, _("Everything I can see")),
        ]

    def value(self):
        return super().value() or self.MINE

    def queryset(self, request, queryset):
        if self.value() == self.EVERYTHING:
            return queryset
        # Uncorrelated IN, as in tickets_visible_to: hashed once, not a lookup per ticket.
        my_teams = TeamMembership.objects.filter(user_id=request.user.pk).values("team_id")
        return queryset.filter(
            Q(team_id__in=my_teams) | Q(pk__in=asked_of_teams(my_teams)),
            status__in=ACTIVE_STATUSES,
        )

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}, remove=["p"]
                ),
                "display": title,
            }


class ConsultationFilter(admin.SimpleListFilter):
    """Requests another team asked one of mine about, still waiting for our answer."""

    title = _("consultations")
    parameter_name = "consulted"
    ASKED_OF_MY_TEAMS = "mine"

    def lookups(self, request, model_admin):
        return [(self.ASKED_OF_MY_TEAMS, _("Asked of my teams"))]

    def queryset(self, request, queryset):
        if self.value() == self.ASKED_OF_MY_TEAMS:
            my_teams = TeamMembership.objects.filter(user_id=request.user.pk).values("team_id")
            return queryset.filter(pk__in=asked_of_teams(my_teams))
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("me", _("Me")), ("nobody", _("Unassigned"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = _("Anyone")
        return choices


class IncidentFilter(admin.SimpleListFilter):
    """The tickets of one incident: the open ones offered, any one reachable by its id (the
    incident page links here)."""

    title = _("incident")
    parameter_name = "incident"

    def lookups(self, request, model_admin):
        return [
            (str(incident.pk), incident.title)
            for incident in incidents_open().order_by("-started_at", "-id")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isascii() and value.isdigit() and len(value) <= 18:
            return queryset.filter(
                pk__in=IncidentLink.objects.filter(incident_id=int(value)).values("ticket_id")
            )
        return queryset


class SlaFilter(admin.SimpleListFilter):
    """On running clocks only: a met promise is no longer anybody's worry."""

    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("due_soon", _("Due within 5 minutes")), ("breached", _("Breached"))]

    def queryset(self, request, queryset):
        if self.value() == "due_soon":
            # Some running, unpaused clock is due by then exactly when the first one is.
            return queryset.filter(next_due_at__lte=timezone.now() + DUE_SOON)
        if self.value() == "breached":
            return queryset.filter(Exists(running_clocks().filter(breached_at__isnull=False)))
        return queryset


class QueueChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # The default queue is a filter like the others: "Clear all filters" leaves the agent
        # with everything they may see rather than with the default again.
        if self.params.get(QueueFilter.parameter_name) != QueueFilter.EVERYTHING:
            self.has_active_filters = True
        self.clear_all_filters_qs = self.get_query_string(
            new_params={QueueFilter.parameter_name: QueueFilter.EVERYTHING},
            remove=self.get_filters_params(),
        )
        return queryset

    def get_ordering_field_columns(self):
        if ORDER_VAR in self.params or "next_deadline" not in self.list_display:
            return super().get_ordering_field_columns()
        return {self.list_display.index("next_deadline"): "asc"}
