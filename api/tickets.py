"""`/api/v1/tickets/`: open, list, read and reply to tickets, and the agents' and customers'
actions on them. Input serializers (`...In`) only validate what the caller sent; the shapes
(`api.shapes`) only render. Who may see a ticket is asked of `tickets.selectors`; every write
is a use case (`usecases.tickets`), with `now` read once here.
"""

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Role, is_staff_role, user_role
from api.common import (
    ACTION_ERRORS,
    BODY_MAX_CHARS,
    ERRORS,
    ID_MAX,
    JSON_ONLY,
    JSON_OR_FILES,
    ErrorOut,
    Pages,
    ReplyThrottle,
    TicketCreateThrottle,
    files_field,
    valid,
)
from api.shapes import CLOCKS, TicketOut, tickets_rendered
from sla.models import Clock
from teams.models import Team
from tickets.models import Category, Channel, Priority, Status, Ticket
from tickets.rendering import MessageOut
from tickets.selectors import access_ticket, thread_visible_to, tickets_visible_to
from usecases import tickets as use_cases

User = get_user_model()


@extend_schema_serializer(component_name="TicketCreate")
class TicketCreateIn(serializers.Serializer):
    subject = serializers.CharField(max_length=Ticket._meta.get_field("subject").max_length)
    body = serializers.CharField(max_length=BODY_MAX_CHARS)
    category = serializers.ChoiceField(choices=Category.choices)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    data_center = serializers.SlugField(
        max_length=20,
        required=False,
        default="",
        allow_blank=True,
        help_text="Site code (ams, mia, ...) of the server the problem is about.",
    )
    customer = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=ID_MAX,
        help_text="Staff only, and required for them: the customer the ticket is for.",
    )
    attachments = files_field()

    def validate_data_center(self, value: str) -> str:
        if value and not Team.objects.filter(kind=Team.Kind.DATACENTER, site=value).exists():
            raise serializers.ValidationError(_("No data center has this site code."))
        return value


@extend_schema_serializer(component_name="MessageCreate")
class MessageCreateIn(serializers.Serializer):
    body = serializers.CharField(max_length=BODY_MAX_CHARS)
    internal = serializers.BooleanField(
        default=False, help_text="Staff only: an internal note. Ignored for customers."
    )
    client_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="Any unique string: a resend with the same one is stored once.",
    )
    attachments = files_field()


@extend_schema_serializer(component_name="Assign")
class AssignIn(serializers.Serializer):
    assignee = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        allow_null=True,
        required=False,
        default=None,
        help_text="A staff user's id; null takes the ticket yourself.",
    )


@extend_schema_serializer(component_name="Resolve")
class ResolveIn(serializers.Serializer):
    summary = serializers.CharField(max_length=BODY_MAX_CHARS)


class ConfirmIn(serializers.Serializer):
    """No fields; a body, when sent, must still be a JSON object."""


class TicketFilterIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    team = serializers.SlugField(required=False, help_text="Team slug.")
    assignee = serializers.CharField(
        required=False, help_text="A user id, `me` or `none` (unassigned)."
    )
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    breached = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        help_text="true: tickets with any SLA clock breached; false: with none.",
    )
    q = serializers.CharField(
        required=False, max_length=200, help_text="Part of the reference or the subject."
    )

    def validate_team(self, value: str) -> str:
        if not Team.objects.filter(slug=value).exists():
            raise serializers.ValidationError(_("No such team."))
        return value

    def validate_assignee(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        if value.isascii() and value.isdigit() and int(value) <= ID_MAX:
            return int(value)
        raise serializers.ValidationError(_("Give a user id, me or none."))


def tickets_filtered(tickets: QuerySet[Ticket], filters: dict, user) -> QuerySet[Ticket]:
    if "status" in filters:
        tickets = tickets.filter(status=filters["status"])
    if "team" in filters:
        tickets = tickets.filter(team__slug=filters["team"])
    if "category" in filters:
        tickets = tickets.filter(category=filters["category"])
    assignee = filters.get("assignee")
    if assignee == "me":
        tickets = tickets.filter(assignee_id=user.pk)
    elif assignee == "none":
        tickets = tickets.filter(assignee__isnull=True)
    elif assignee is not None:
        tickets = tickets.filter(assignee_id=assignee)
    if "breached" in filters:
        breached = Exists(Clock.objects.filter(ticket_id=OuterRef("pk"), breached_at__isnull=False))
        tickets = tickets.filter(breached if filters["breached"] == "true" else ~breached)
    if filters.get("q"):
        q = filters["q"]
        tickets = tickets.filter(Q(reference__icontains=q) | Q(subject__icontains=q))
    return tickets.order_by("-last_activity_at", "-id")


class TicketViewSet(viewsets.GenericViewSet):
    queryset = Ticket.objects.none()  # the schema's model; requests use tickets_visible_to
    serializer_class = TicketOut
    pagination_class = Pages
    parser_classes = JSON_OR_FILES
    lookup_value_regex = r"\d+"

    def get_throttles(self):
        # The doors of core.throttle, shared with the portal and the desk; reading is free.
        if self.action == "create":
            return [TicketCreateThrottle()]
        if self.action == "messages":
            return [ReplyThrottle()]
        return super().get_throttles()

    def _render(self, ticket: Ticket) -> dict:
        prefetch_related_objects([ticket], CLOCKS)
        return TicketOut(ticket, context=self.get_serializer_context()).data

    @extend_schema(parameters=[TicketFilterIn], responses={200: TicketOut(many=True), **ERRORS})
    def list(self, request):
        filters = valid(TicketFilterIn, request.query_params)
        tickets = tickets_filtered(
            tickets_rendered(tickets_visible_to(request.user)), filters, request.user
        )
        page = self.paginate_queryset(tickets)
        return self.get_paginated_response(
            TicketOut(page, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=TicketCreateIn,
        responses={201: TicketOut, 429: OpenApiResponse(ErrorOut), **ERRORS},
    )
    def create(self, request):
        data = valid(TicketCreateIn, request.data)
        customer, opened_by = request.user, None
        if is_staff_role(user_role(request.user)):
            customer, opened_by = self._customer(data.get("customer")), request.user
        ticket = use_cases.ticket_open(
            customer=customer,
            subject=data["subject"],
            body=data["body"],
            category=data["category"],
            priority=data["priority"],
            data_center=data["data_center"],
            channel=Channel.API,
            now=timezone.now(),
            opened_by=opened_by,
            attachments=data["attachments"],
        )
        location = reverse("api:ticket-detail", args=[ticket.pk])
        return Response(
            self._render(ticket), status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    @staticmethod
    def _customer(customer_id: int | None):
        if customer_id is None:
            raise serializers.ValidationError(
                {"customer": [_("Staff open tickets on behalf of a customer: give their id.")]}
            )
        customer = User.objects.filter(pk=customer_id, is_active=True).first()
        if customer is None or user_role(customer) != Role.CUSTOMER:
            raise serializers.ValidationError({"customer": [_("No such customer.")]})
        return customer

    @extend_schema(responses={200: TicketOut, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(self._render(access_ticket(request.user, pk)))

    @extend_schema(methods=["GET"], responses={200: MessageOut(many=True), **ERRORS})
    @extend_schema(
        methods=["POST"],
        request=MessageCreateIn,
        responses={
            201: MessageOut,
            200: OpenApiResponse(MessageOut, description="Already stored (same client_id)"),
            409: OpenApiResponse(ErrorOut, description="The ticket is closed"),
            429: OpenApiResponse(ErrorOut, description="Too many replies; see Retry-After"),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None):
        ticket = access_ticket(request.user, pk)
        context = self.get_serializer_context()
        if request.method == "GET":
            page = self.paginate_queryset(thread_visible_to(request.user, ticket))
            return self.get_paginated_response(MessageOut(page, many=True, context=context).data)
        data = valid(MessageCreateIn, request.data)
        message, created = use_cases.ticket_reply(
            ticket_id=ticket.pk,
            author=request.user,
            body=data["body"],
            channel=Channel.API,
            now=timezone.now(),
            internal=data["internal"],
            client_id=data["client_id"],
            attachments=data["attachments"],
        )
        message = thread_visible_to(request.user, ticket).get(pk=message.pk)
        return Response(
            MessageOut(message, context=context).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=AssignIn, responses={200: TicketOut, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def assign(self, request, pk=None):
        ticket = access_ticket(request.user, pk)  # 404 for what one may not see, before 403
        data = valid(AssignIn, request.data)
        ticket = use_cases.ticket_assign(
            ticket_id=ticket.pk,
            actor=request.user,
            assignee_id=data["assignee"],
            now=timezone.now(),
        )
        return Response(self._render(ticket))

    @extend_schema(request=ResolveIn, responses={200: TicketOut, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def resolve(self, request, pk=None):
        ticket = access_ticket(request.user, pk)
        data = valid(ResolveIn, request.data)
        ticket = use_cases.ticket_resolve(
            ticket_id=ticket.pk, actor=request.user, summary=data["summary"], now=timezone.now()
        )
        return Response(self._render(ticket))

    @extend_schema(request=None, responses={200: TicketOut, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def confirm(self, request, pk=None):
        ticket = access_ticket(request.user, pk)
        valid(ConfirmIn, request.data)
        ticket = use_cases.ticket_confirm(
            ticket_id=ticket.pk, customer=request.user, now=timezone.now()
        )
        return Response(self._render(ticket))
