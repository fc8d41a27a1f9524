"""The public shapes of API.md: a ticket with its promises, a team with its hours, a consultation,
an approval request and an incident. Rendered the same by the REST API and the live chat's frames; a
message's shape is `tickets.rendering`'s."""

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from escalation.models import ApprovalRequest, Consultation
from incidents.models import Incident, IncidentNote, IncidentUpdate
from incidents.selectors import ticket_counts
from sla.models import Clock
from sla.policy import Metric
from teams.models import Team
from tickets.models import Category, Ticket
from tickets.rendering import PersonOut


@extend_schema_serializer(component_name="TeamBrief")
class TeamBriefOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    tier = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="TicketRef")
class TicketRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    subject = serializers.CharField()


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
# The id of the approval request the ticket waits for, as `tickets_rendered` annotates it.
PENDING_APPROVAL = "pending_approval_id"
# The ticket's link to its incident (one at most), joined by `tickets_rendered`.
INCIDENT_LINK = "incident_link"


def pending_approval_of(ticket: Ticket) -> int | None:
    """The annotation when the ticket has it (lists, a ticket just opened), else one query."""
    if hasattr(ticket, PENDING_APPROVAL):
        return getattr(ticket, PENDING_APPROVAL)
    return (
        ApprovalRequest.objects.filter(ticket_id=ticket.pk, state=ApprovalRequest.State.PENDING)
        .values_list("pk", flat=True)
        .first()
    )


def incident_of(ticket: Ticket) -> int | None:
    """What `ticket_open` linked the new ticket to, or the joined link when the ticket has it
    (lists), else one query."""
    if hasattr(ticket, "incident_on_arrival"):
        return ticket.incident_on_arrival
    # A missing link raises RelatedObjectDoesNotExist, an AttributeError: no incident.
    link = getattr(ticket, INCIDENT_LINK, None)
    return link.incident_id if link is not None else None


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
    # The model's slug pattern would promise a site; without one the ticket says "".
    data_center = serializers.CharField(
        read_only=True, help_text="Site code (ams, mia, ...) of the server; empty for none."
    )
    # Bound once per list, not a new serializer per ticket (a quarter of a page's time).
    sla = SlaOut(source="*", read_only=True)
    estimate_seconds = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="The estimate an agent gave for a non-standard request (its resolution "
        "target, in the owning team's working time); null without one.",
    )
    pending_approval = serializers.SerializerMethodField(
        help_text="The id of the approval request that management has still to decide "
        "(`/api/v1/approvals/`); null when none waits."
    )
    incident = serializers.SerializerMethodField(
        help_text="The incident the ticket is linked to (`/api/v1/incidents/`); null when none."
    )

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
            "estimate_seconds",
            "pending_approval",
            "incident",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_pending_approval(self, ticket: Ticket) -> int | None:
        return pending_approval_of(ticket)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_incident(self, ticket: Ticket) -> int | None:
        return incident_of(ticket)


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
    # At most one pending request per ticket (a constraint), found by its partial index.
    pending = ApprovalRequest.objects.filter(
        ticket_id=OuterRef("pk"), state=ApprovalRequest.State.PENDING
    ).values("pk")[:1]
    return (
        tickets.select_related("team", "customer", "assignee", INCIDENT_LINK)
        .prefetch_related(CLOCKS)
        .annotate(**{PENDING_APPROVAL: Subquery(pending)})
    )


@extend_schema_serializer(component_name="Consultation")
class ConsultationOut(serializers.ModelSerializer):
    """A team asked for help on a ticket it does not own; staff only."""

    ticket = TicketRefOut()
    team = TeamBriefOut()
    asked_by = PersonOut()
    answered_by = PersonOut(allow_null=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "ticket",
            "team",
            "note",
            "state",
            "asked_by",
            "asked_at",
            "answered_by",
            "answered_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="Approval")
class ApprovalOut(serializers.ModelSerializer):
    """What management is asked to approve, and what it decided."""

    ticket = TicketRefOut(
        allow_null=True, help_text="Null for a credit covering the customers of an incident."
    )
    incident = serializers.SerializerMethodField(
        help_text="The incident whose customers a credit covers; null for a ticket's request."
    )
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text='A decimal as a string ("25.00"); null when no money is involved.',
    )
    requested_by = PersonOut()
    decided_by = PersonOut(allow_null=True, help_text="Null while pending, and when withdrawn.")

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "ticket",
            "incident",
            "kind",
            "amount",
            "currency",
            "reason",
            "state",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "note",
        ]
        read_only_fields = fields

    def get_incident(self, approval: ApprovalRequest) -> int | None:
        if approval.ticket_id is not None:
            return None
        credit = getattr(approval, "incident_credit", None)
        return credit.incident_id if credit is not None else None


def approvals_rendered(approvals: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    """Everything ApprovalOut reads, in one query whatever the page size."""
    return approvals.select_related("ticket", "requested_by", "decided_by", "incident_credit")


class BlankAsNull(serializers.CharField):
    """A blank column is `null` in JSON: no site, not a site named ""."""

    def to_representation(self, value) -> str | None:
        return value or None


@extend_schema_serializer(component_name="IncidentUpdate")
class IncidentUpdateOut(serializers.ModelSerializer):
    """A public update, as written: on the status page and in every linked thread."""

    class Meta:
        model = IncidentUpdate
        fields = ["id", "status", "body", "created_at"]
        read_only_fields = fields


# What staff see besides the public part: never rendered for customers.
INCIDENT_STAFF_FIELDS = ("ticket_count", "lead", "categories")


@extend_schema_serializer(component_name="Incident")
class IncidentOut(serializers.ModelSerializer):
    """An outage, as everyone may read it; staff (context `staff`) also read how many tickets
    are linked, who leads it and which categories of new requests it covers. Internal notes
    are in no shape."""

    data_center = BlankAsNull(
        allow_null=True, help_text="Site code (ams, mia, ...) of the data center; null for none."
    )
    service = BlankAsNull(allow_null=True, help_text="What is affected, in words; null for none.")
    updates = IncidentUpdateOut(many=True, help_text="Public updates, newest first.")
    # Not read-only, so that the schema does not mark them required: customers never get them.
    ticket_count = serializers.IntegerField(
        required=False, help_text="Staff only: the tickets linked to it."
    )
    lead = PersonOut(required=False, allow_null=True, help_text="Staff only: who leads it.")
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices),
        required=False,
        help_text="Staff only: new requests of these categories (at its site, when it has one) "
        "are linked on arrival.",
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "description",
            "status",
            "data_center",
            "service",
            "started_at",
            "resolved_at",
            "updates",
            *INCIDENT_STAFF_FIELDS,
        ]
        read_only_fields = fields[:9]

    def to_representation(self, incident: Incident) -> dict:
        data = super().to_representation(incident)
        if not self.context.get("staff"):
            for name in INCIDENT_STAFF_FIELDS:
                data.pop(name, None)
        return data


def incidents_rendered(incidents: QuerySet[Incident]) -> QuerySet[Incident]:
    """Everything IncidentOut reads but the updates (`incidents.selectors.with_updates`) and the
    counts (`incidents_counted`), joined."""
    return incidents.select_related("lead")


def incidents_counted(incidents: list[Incident]) -> list[Incident]:
    """A page of incidents with their `ticket_count`, for staff: one aggregate."""
    counts = ticket_counts([incident.pk for incident in incidents])
    for incident in incidents:
        incident.ticket_count = counts.get(incident.pk, 0)
    return incidents


@extend_schema_serializer(component_name="IncidentNote")
class IncidentNoteOut(serializers.ModelSerializer):
    """For the staff working the incident only."""

    author = PersonOut()

    class Meta:
        model = IncidentNote
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = fields
