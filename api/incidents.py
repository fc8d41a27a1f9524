"""`/api/v1/incidents/`: one outage, many customers. Everyone signed in reads the incidents'
public part (what the status page shows); staff open and edit them, post their public updates
(one voice in every linked thread), write internal notes, link and unlink tickets, and ask
management for a credit covering the customers hit.

Customers get 403 on every write, whatever the id and the body (a permission, checked before
anything is read). Input serializers (`...In`) check the types of what the caller sent; the use
cases (`usecases.incidents`) decide the rest, with `now` read once here.
"""

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from accounts.roles import is_staff_role, user_role
from api.common import (
    BODY_MAX_CHARS,
    ID_MAX,
    JSON_ONLY,
    NO_PAGE,
    THROTTLED,
    AmountField,
    ErrorOut,
    IncidentWriteThrottle,
    Pages,
    valid,
)
from api.shapes import (
    ApprovalOut,
    IncidentNoteOut,
    IncidentOut,
    IncidentUpdateOut,
    incidents_counted,
    incidents_rendered,
)
from incidents.models import Incident, IncidentNote
from incidents.selectors import incidents_listed, ticket_counts, with_updates
from tickets.models import Category
from usecases import incidents as use_cases

# Linking in bulk from the queue: a page of a filter at a time, not the whole outage at once.
LINK_MAX_TICKETS = 1000
SITE_MAX = Incident._meta.get_field("data_center").max_length


def is_staff(user) -> bool:
    return is_staff_role(user_role(user))


class StaffOnly(BasePermission):
    message = _("Only support staff can do this.")

    def has_permission(self, request, view):
        return is_staff(request.user)


class IncidentFilterIn(serializers.Serializer):
    open = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        help_text="true: only those not resolved yet; false or none: all, newest first.",
    )


def categories_field(**kwargs):
    return serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices),
        max_length=len(Category.choices),
        help_text="New requests of these categories (at its site, when it has one) are linked "
        "to it on arrival while it is open.",
        **kwargs,
    )


@extend_schema_serializer(component_name="IncidentCreate")
class IncidentCreateIn(serializers.Serializer):
    title = serializers.CharField(max_length=use_cases.TITLE_MAX, allow_blank=True)
    description = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        help_text="What customers should know: public, on the status page.",
    )
    data_center = serializers.CharField(
        max_length=SITE_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="Site code (ams, mia, ...) of the data center affected.",
    )
    service = serializers.CharField(
        max_length=use_cases.SERVICE_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="What is affected, in words (a platform, a service).",
    )
    categories = categories_field(required=False, default=list)


@extend_schema_serializer(component_name="IncidentEdit")
class IncidentEditIn(serializers.Serializer):
    """Only the fields given change; the status moves by public updates."""

    title = serializers.CharField(max_length=use_cases.TITLE_MAX, allow_blank=True, required=False)
    description = serializers.CharField(max_length=BODY_MAX_CHARS, allow_blank=True, required=False)
    data_center = serializers.CharField(max_length=SITE_MAX, allow_blank=True, required=False)
    service = serializers.CharField(
        max_length=use_cases.SERVICE_MAX, allow_blank=True, required=False
    )
    categories = categories_field(required=False)
    lead = serializers.IntegerField(
        min_value=1, max_value=ID_MAX, required=False, help_text="A staff user's id."
    )


@extend_schema_serializer(component_name="IncidentUpdateCreate")
class UpdateCreateIn(serializers.Serializer):
    body = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        help_text="Public, as written: on the status page and in every linked thread.",
    )
    status = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        help_text="investigating, identified, monitoring or resolved; the current one when "
        "omitted (investigating when reopening).",
    )
    reopen = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required to leave `resolved`: the incident is open again.",
    )


@extend_schema_serializer(component_name="IncidentNoteCreate")
class NoteCreateIn(serializers.Serializer):
    body = serializers.CharField(max_length=BODY_MAX_CHARS, allow_blank=True)


@extend_schema_serializer(component_name="IncidentLink")
class LinkIn(serializers.Serializer):
    tickets = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        allow_empty=False,
        max_length=LINK_MAX_TICKETS,
        help_text="Ticket ids; all are linked, or none.",
    )


@extend_schema_serializer(component_name="IncidentLinked")
class LinkedOut(serializers.Serializer):
    linked = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The ids newly linked here (those already linked to it are not repeated).",
    )
    ticket_count = serializers.IntegerField(help_text="The tickets linked to it now.")


@extend_schema_serializer(component_name="IncidentCredit")
class CreditCreateIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        help_text="Why management should approve it. Required.",
    )
    amount = AmountField(
        max_length=32,
        required=False,
        allow_null=True,
        default=None,
        help_text='A fixed amount per customer, e.g. "25.00"; or give `share_percent`.',
    )
    share_percent = AmountField(
        max_length=32,
        required=False,
        allow_null=True,
        default=None,
        help_text="A share of each customer's monthly fee, more than 0 and at most 100.",
    )
    fees = serializers.DictField(
        child=AmountField(max_length=32),
        required=False,
        allow_null=True,
        default=None,
        help_text="With `share_percent`: each linked customer's monthly fee, by customer id.",
    )
    currency = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        default="",
        help_text="Three letters (ISO 4217); the helpdesk's own when omitted.",
    )


STAFF_ONLY = OpenApiResponse(ErrorOut, description="Customers may not do this")
UNKNOWN = OpenApiResponse(ErrorOut, description="No such incident")
WRITE_ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Invalid input"),
    401: OpenApiResponse(ErrorOut, description="Not signed in"),
    403: STAFF_ONLY,
    404: UNKNOWN,
    **THROTTLED,
}
TICKET_ID = OpenApiParameter("ticket_id", int, OpenApiParameter.PATH)


class IncidentViewSet(viewsets.GenericViewSet):
    queryset = Incident.objects.none()  # the schema's model; requests use the selectors
    serializer_class = IncidentOut
    pagination_class = Pages
    parser_classes = JSON_ONLY
    lookup_value_regex = "[0-9]{1,18}"  # a longer number is no row: 404 from the resolver
    READS = frozenset({"list", "retrieve"})

    def get_permissions(self):
        if self.action in self.READS:
            return super().get_permissions()
        return [IsAuthenticated(), StaffOnly()]

    def get_throttles(self):
        if self.action in self.READS:
            return super().get_throttles()
        return [IncidentWriteThrottle()]

    def _rendered(self, incidents: list[Incident]) -> list[dict]:
        staff = is_staff(self.request.user)
        if staff:
            incidents_counted(incidents)
        return IncidentOut(incidents, many=True, context={"staff": staff}).data

    @staticmethod
    def _found(incidents) -> Incident:
        incident = incidents.first()
        if incident is None:
            raise Http404("No such incident.")
        return incident

    def _one(self, pk) -> dict:
        incidents = incidents_rendered(with_updates(Incident.objects.filter(pk=pk)))
        return self._rendered([self._found(incidents)])[0]

    @extend_schema(
        parameters=[IncidentFilterIn],
        responses={
            200: IncidentOut(many=True),
            400: OpenApiResponse(ErrorOut, description="A bad value of `open` or `page_size`"),
            401: OpenApiResponse(ErrorOut, description="Not signed in"),
            **NO_PAGE,
        },
    )
    def list(self, request):
        """Incidents, newest first, with their public updates; `?open=true` for those not
        resolved yet."""
        filters = valid(IncidentFilterIn, request.query_params)
        incidents = incidents_rendered(incidents_listed(open_only=filters.get("open") == "true"))
        page = self.paginate_queryset(incidents)
        return self.get_paginated_response(self._rendered(list(page)))

    @extend_schema(
        responses={
            200: IncidentOut,
            401: OpenApiResponse(ErrorOut, description="Not signed in"),
            404: UNKNOWN,
        }
    )
    def retrieve(self, request, pk=None):
        return Response(self._one(pk))

    @extend_schema(
        request=IncidentCreateIn,
        responses={201: IncidentOut, **{k: v for k, v in WRITE_ERRORS.items() if k != 404}},
    )
    def create(self, request):
        """Open an incident: on the status page at once, and new requests it covers (its site;
        its categories, if any) are linked to it on arrival."""
        data = valid(IncidentCreateIn, request.data)
        incident = use_cases.incident_open(actor=request.user, now=timezone.now(), **data)
        return Response(self._one(incident.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=IncidentEditIn, responses={200: IncidentOut, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        """Change what the incident covers and how it reads; fields not given stay."""
        incident = self._found(Incident.objects.filter(pk=pk))
        data = valid(IncidentEditIn, request.data)
        use_cases.incident_edit(
            incident_id=incident.pk,
            actor=request.user,
            now=timezone.now(),
            title=data.get("title", incident.title),
            description=data.get("description", incident.description),
            data_center=data.get("data_center", incident.data_center),
            service=data.get("service", incident.service),
            categories=data.get("categories", incident.categories),
            lead_id=data.get("lead"),
        )
        return Response(self._one(incident.pk))

    @extend_schema(
        request=UpdateCreateIn,
        responses={
            201: IncidentUpdateOut,
            **WRITE_ERRORS,
            400: OpenApiResponse(ErrorOut, description="Invalid input, an unknown status"),
            409: OpenApiResponse(
                ErrorOut,
                description="Resolved: leaving `resolved` needs `reopen`, and it is resolved once",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def updates(self, request, pk=None):
        """Post a public update: on the status page at once, then in every linked ticket's
        thread as a system message in the customer's language (the worker's fan-out), where
        it counts as the ticket's status update; `resolved` resolves every linked ticket."""
        data = valid(UpdateCreateIn, request.data)
        update = use_cases.incident_update(
            incident_id=int(pk),
            actor=request.user,
            body=data["body"],
            status=data["status"] or None,
            reopen=data["reopen"],
            now=timezone.now(),
        )
        return Response(IncidentUpdateOut(update).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        responses={
            200: IncidentNoteOut(many=True),
            400: OpenApiResponse(ErrorOut, description="A bad `page_size`"),
            401: WRITE_ERRORS[401],
            403: STAFF_ONLY,
            404: OpenApiResponse(ErrorOut, description="No such incident, or no such page"),
        },
    )
    @extend_schema(
        methods=["POST"], request=NoteCreateIn, responses={201: IncidentNoteOut, **WRITE_ERRORS}
    )
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        """Internal notes, oldest first: for the staff working the incident only."""
        if request.method == "POST":
            data = valid(NoteCreateIn, request.data)
            note = use_cases.incident_note(
                incident_id=int(pk), actor=request.user, body=data["body"], now=timezone.now()
            )
            return Response(IncidentNoteOut(note).data, status=status.HTTP_201_CREATED)
        incident = self._found(Incident.objects.filter(pk=pk))
        notes = (
            IncidentNote.objects.filter(incident=incident)
            .select_related("author")
            .order_by("created_at", "id")
        )
        page = self.paginate_queryset(notes)
        return self.get_paginated_response(IncidentNoteOut(page, many=True).data)

    @extend_schema(
        request=LinkIn,
        responses={
            200: LinkedOut,
            **WRITE_ERRORS,
            400: OpenApiResponse(
                ErrorOut,
                description="Invalid input; a ticket unknown or not yours to see "
                "(`unknown_ticket`, naming them): none is linked",
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="tickets")
    def tickets(self, request, pk=None):
        """Link tickets, all or nothing; a ticket linked to another incident moves here. Each
        hears the incident's next updates in its thread."""
        data = valid(LinkIn, request.data)
        linked = use_cases.tickets_link(
            incident_id=int(pk), actor=request.user, ticket_ids=data["tickets"], now=timezone.now()
        )
        count = ticket_counts([int(pk)]).get(int(pk), 0)
        return Response({"linked": linked, "ticket_count": count})

    @extend_schema(
        parameters=[TICKET_ID],
        request=None,
        responses={
            204: None,
            401: WRITE_ERRORS[401],
            403: STAFF_ONLY,
            404: OpenApiResponse(ErrorOut, description="No such incident, or not linked to it"),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["delete"], url_path=r"tickets/(?P<ticket_id>[0-9]{1,18})")
    def unlink(self, request, pk=None, ticket_id=None):
        """The ticket continues alone: no more of the incident's updates reach it."""
        use_cases.ticket_unlink(
            incident_id=int(pk), actor=request.user, ticket_id=int(ticket_id), now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=CreditCreateIn,
        responses={
            201: ApprovalOut,
            **WRITE_ERRORS,
            400: OpenApiResponse(
                ErrorOut,
                description="Invalid input; no reason; both or neither of amount and "
                "share_percent; a missing fee; no ticket linked (`no_tickets`)",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def credits(self, request, pk=None):
        """Ask management for one credit covering every customer linked: a fixed `amount` each,
        or `share_percent` of each one's monthly fee (`fees`). One approval request
        (`/api/v1/approvals/`); its decision is told in each customer's thread, once."""
        data = valid(CreditCreateIn, request.data)
        credit = use_cases.credit_request(
            incident_id=int(pk), actor=request.user, now=timezone.now(), **data
        )
        return Response(ApprovalOut(credit.approval).data, status=status.HTTP_201_CREATED)
