"""The managers' REST API of the SLA engine, `/api/v1/sla/`: missed promises and compliance.

Same conventions as `api.tickets`: `...In` serializers validate the query, `...Out` render,
reads come from `sla.selectors`. Managers and admins only: anonymous callers get 401, any
other role 403 (the endpoints are public knowledge; no object id is probed here).
"""

import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import oversees_everything
from api.common import NO_PAGE, ErrorOut, Pages, valid
from api.shapes import TicketRefOut
from sla import selectors
from sla.models import Breach, Clock
from teams.models import Team
from tickets.rendering import PersonOut

# Without `since`, the summary covers the week up to `until`.
SUMMARY_DEFAULT_WINDOW = datetime.timedelta(days=7)

ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Invalid input"),
    401: OpenApiResponse(ErrorOut, description="Not signed in"),
    403: OpenApiResponse(ErrorOut, description="Managers only"),
}


class IsManager(BasePermission):
    message = _("Only managers may see the SLA reports.")

    def has_permission(self, request, view):
        return oversees_everything(request.user)


MANAGERS_ONLY = [IsAuthenticated, IsManager]


# --- Input -----------------------------------------------------------------------------------


class WindowIn(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text="ISO 8601; from this moment, included."
    )
    until = serializers.DateTimeField(
        required=False, help_text="ISO 8601; up to this moment, excluded."
    )

    def validate(self, data):
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": [_("Must be later than since.")]})
        return data


class BreachFilterIn(WindowIn):
    team = serializers.SlugField(required=False, help_text="Team slug.")
    metric = serializers.ChoiceField(choices=Clock.MetricChoices.choices, required=False)

    def validate_team(self, value: str) -> Team:
        team = Team.objects.filter(slug=value).first()
        if team is None:
            raise serializers.ValidationError(_("No such team."))
        return team


class SummaryIn(WindowIn):
    """Both optional: `until` defaults to now, `since` to a week before `until`."""


# --- Output ----------------------------------------------------------------------------------


@extend_schema_serializer(component_name="TeamRef")
class TeamRefOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


@extend_schema_serializer(component_name="Breach")
class BreachOut(serializers.ModelSerializer):
    ticket = TicketRefOut()
    team = TeamRefOut()
    late_seconds = serializers.IntegerField(
        help_text="From due to detected: how long the promise went missed unnoticed."
    )
    assignee = PersonOut(
        source="ticket.assignee", allow_null=True, help_text="The ticket's assignee now."
    )

    class Meta:
        model = Breach
        fields = [
            "id",
            "ticket",
            "team",
            "metric",
            "due_at",
            "detected_at",
            "late_seconds",
            "managers_notified_at",
            "assignee",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="Compliance")
class ComplianceOut(serializers.Serializer):
    team = TeamRefOut()
    metric = serializers.ChoiceField(choices=Clock.MetricChoices.choices)
    total = serializers.IntegerField(help_text="Promises decided in the window: met + breached.")
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    compliance = serializers.FloatField(allow_null=True, help_text="met / total; null when 0.")
    p50_seconds = serializers.IntegerField(
        allow_null=True, help_text="Median time to meet, less paused time."
    )
    p90_seconds = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="SlaSummary")
class SummaryOut(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    results = ComplianceOut(many=True)


# --- Views -----------------------------------------------------------------------------------


class BreachViewSet(viewsets.GenericViewSet):
    queryset = Breach.objects.none()  # the schema's model; requests use sla.selectors
    serializer_class = BreachOut
    pagination_class = Pages
    permission_classes = MANAGERS_ONLY

    @extend_schema(
        operation_id="sla_breaches_list",
        parameters=[BreachFilterIn],
        responses={200: BreachOut(many=True), **ERRORS, **NO_PAGE},
    )
    def list(self, request):
        filters = valid(BreachFilterIn, request.query_params)
        page = self.paginate_queryset(selectors.breaches_filtered(**filters))
        return self.get_paginated_response(BreachOut(page, many=True).data)


class SummaryView(APIView):
    permission_classes = MANAGERS_ONLY

    @extend_schema(
        operation_id="sla_summary_retrieve",
        parameters=[SummaryIn],
        responses={200: SummaryOut, **ERRORS},
    )
    def get(self, request):
        window = valid(SummaryIn, request.query_params)
        until = window.get("until") or timezone.now()
        since = window.get("since") or until - SUMMARY_DEFAULT_WINDOW
        if since >= until:
            raise serializers.ValidationError({"since": [_("Must be earlier than until.")]})
        rows = selectors.compliance_summary(since=since, until=until)
        return Response(SummaryOut({"since": since, "until": until, "results": rows}).data)
