"""`/api/v1/approvals/`: management's queue of approval requests, and deciding or withdrawing
one. Requests are asked on a ticket (`POST /api/v1/tickets/{id}/approvals/`, `api.tickets`).

Managers and admins read the queue; anonymous callers get 401, anyone else 403 (the endpoint is
public knowledge, and a constant answer probes no id). Who may decide or withdraw is the use
cases' rule (`usecases.escalation`): a manager who did not ask decides, once; the one who asked,
or a manager, withdraws.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from accounts.roles import oversees_everything
from api.common import (
    BODY_MAX_CHARS,
    JSON_ONLY,
    NO_PAGE,
    THROTTLED,
    ApprovalDecideThrottle,
    ApprovalWithdrawThrottle,
    ErrorOut,
    Pages,
    valid,
)
from api.shapes import ApprovalOut, approvals_rendered
from escalation.models import ApprovalRequest
from escalation.selectors import approvals_pending
from usecases import escalation as use_cases


class ManagersOnly(BasePermission):
    message = _("Only managers see the approval requests.")

    def has_permission(self, request, view):
        return oversees_everything(request.user)


class ApprovalFilterIn(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=ApprovalRequest.State.choices,
        required=False,
        help_text="`pending` is the queue, oldest first; other states and none, newest first.",
    )


@extend_schema_serializer(component_name="Decision")
class DecisionIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=sorted(use_cases.DECISIONS))
    note = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text="Told to the customer with the decision.",
    )


class WithdrawIn(serializers.Serializer):
    """No fields; a body, when sent, must still be a JSON object."""


def approvals_filtered(filters: dict):
    state = filters.get("state")
    if state == ApprovalRequest.State.PENDING:
        return approvals_rendered(approvals_pending())
    approvals = ApprovalRequest.objects.order_by("-requested_at", "-id")
    if state:
        approvals = approvals.filter(state=state)
    return approvals_rendered(approvals)


ANONYMOUS = OpenApiResponse(ErrorOut, description="Not signed in")
UNKNOWN = OpenApiResponse(ErrorOut, description="No such approval request, or not yours to see")


class ApprovalViewSet(viewsets.GenericViewSet):
    queryset = ApprovalRequest.objects.none()  # the schema's model; requests use the selectors
    serializer_class = ApprovalOut
    pagination_class = Pages
    parser_classes = JSON_ONLY
    lookup_value_regex = "[0-9]{1,18}"  # a longer number is no row: 404 from the resolver
    THROTTLES = {"decide": ApprovalDecideThrottle, "withdraw": ApprovalWithdrawThrottle}

    def get_permissions(self):
        if self.action == "list":
            return [IsAuthenticated(), ManagersOnly()]
        return super().get_permissions()

    def get_throttles(self):
        throttle = self.THROTTLES.get(self.action)
        return [throttle()] if throttle else super().get_throttles()

    @extend_schema(
        parameters=[ApprovalFilterIn],
        responses={
            200: ApprovalOut(many=True),
            400: OpenApiResponse(ErrorOut, description="An unknown state, a bad `page_size`"),
            401: ANONYMOUS,
            403: OpenApiResponse(ErrorOut, description="Managers and admins only"),
            **NO_PAGE,
        },
    )
    def list(self, request):
        """Approval requests; `?state=pending` is management's queue."""
        page = self.paginate_queryset(
            approvals_filtered(valid(ApprovalFilterIn, request.query_params))
        )
        return self.get_paginated_response(ApprovalOut(page, many=True).data)

    @extend_schema(
        request=DecisionIn,
        responses={
            200: ApprovalOut,
            400: OpenApiResponse(ErrorOut, description="Invalid input"),
            401: ANONYMOUS,
            403: OpenApiResponse(
                ErrorOut, description="Not a manager, or the manager who asked for it"
            ),
            404: UNKNOWN,
            409: OpenApiResponse(ErrorOut, description="Already decided or withdrawn"),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve or reject, once: the decision is told in the ticket's thread in the
        customer's language, and the ticket returns to its team, open, its clocks resumed
        with the waiting time left out."""
        data = valid(DecisionIn, request.data)
        approval = use_cases.approval_decide(
            approval_id=int(pk),
            actor=request.user,
            decision=data["decision"],
            note=data["note"],
            now=timezone.now(),
        )
        return Response(ApprovalOut(approval).data)

    @extend_schema(
        request=None,
        responses={
            200: ApprovalOut,
            400: OpenApiResponse(ErrorOut, description="Invalid input"),
            401: ANONYMOUS,
            403: OpenApiResponse(ErrorOut, description="Neither the one who asked nor a manager"),
            404: UNKNOWN,
            409: OpenApiResponse(ErrorOut, description="Already decided or withdrawn"),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The decision is no longer needed: the ticket goes on, open, with its team, and the
        customer is told."""
        valid(WithdrawIn, request.data)
        approval = use_cases.approval_withdraw(
            approval_id=int(pk), actor=request.user, now=timezone.now()
        )
        return Response(ApprovalOut(approval).data)
