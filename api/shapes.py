"""The public shapes of API.md: a ticket with its promises, a team with its hours. Rendered the
same by the REST API and the live chat's frames; a message's shape is `tickets.rendering`'s."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from sla.models import Clock
from sla.policy import Metric
from teams.models import Team
from tickets.models import Ticket
from tickets.rendering import PersonOut


@extend_schema_serializer(component_name="TeamBrief")
class TeamBriefOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    tier = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="Clock")
class ClockOut(serializers.Serializer):
    due_at = serializers.DateTimeField()
    met_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    paused = serializers.BooleanField()


@extend_schema_serializer(component_name="Sla")
class SlaOut(serializers.Serializer):
    # Renders a ticket (source="*"), from its clocks prefetched with `CLOCKS`.
    acknowledgement = ClockOut(allow_null=True)
    first_response = ClockOut(allow_null=True)
    status_update = ClockOut(allow_null=True)
    resolution = ClockOut(allow_null=True)

    def to_representation(self, ticket: Ticket) -> dict:
        return super().to_representation(sla_of(ticket))


# The plain relation: a ticket just opened carries its clocks already (`ticket_open`), and
# prefetching it again then costs nothing.
CLOCKS = "clocks"


def sla_of(ticket: Ticket) -> dict[str, Clock | None]:
    """For each metric the running clock, else the latest one (met or cancelled), else None."""
    chosen: dict[str, Clock] = {}
    # Oldest first, so later history replaces earlier.
    for clock in sorted(ticket.clocks.all(), key=lambda c: (c.started_at, c.pk)):
        current = chosen.get(clock.metric)
        if current is None or not current.is_running or clock.is_running:
            chosen[clock.metric] = clock
    return {metric.value: chosen.get(metric.value) for metric in Metric}


@extend_schema_serializer(component_name="Ticket")
class TicketOut(serializers.ModelSerializer):
    team = TeamBriefOut()
    assignee = PersonOut(allow_null=True)
    customer = PersonOut()
    # Bound once per list, not a new serializer per ticket (a quarter of a page's time).
    sla = SlaOut(source="*", read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "subject",
            "category",
            "status",
            "priority",
            "channel",
            "data_center",
            "team",
            "assignee",
            "customer",
            "created_at",
            "updated_at",
            "last_activity_at",
            "sla",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="Hours")
class HoursOut(serializers.Serializer):
    weekday = serializers.IntegerField(help_text="0 = Monday ... 6 = Sunday")
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()

    def get_start(self, hours) -> str:
        return f"{hours.start:%H:%M}"

    def get_end(self, hours) -> str:
        minute = hours.end_minute
        return f"{minute // 60:02d}:{minute % 60:02d}"


@extend_schema_serializer(component_name="Team")
class TeamOut(serializers.ModelSerializer):
    hours = HoursOut(many=True, source="working_hours.all", help_text="Local time, HH:MM.")
    open_now = serializers.BooleanField()
    next_open_at = serializers.DateTimeField(
        allow_null=True, help_text="When the team next starts work; null while it works."
    )

    class Meta:
        model = Team
        fields = ["slug", "name", "tier", "kind", "timezone", "hours", "open_now", "next_open_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="Token")
class TokenOut(serializers.Serializer):
    token = serializers.CharField()


def tickets_rendered(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Everything TicketOut reads, in a fixed number of queries whatever the page size."""
    return tickets.select_related("team", "customer", "assignee").prefetch_related(CLOCKS)
