"""`/api/v1/tickets/`: open, list, read and reply to tickets, and the agents' and customers'
actions on them, escalation's included (escalate, consult, estimate, ask for an approval).
Input serializers (`...In`) only validate the types of what the caller sent; the use cases
decide the rest. The shapes (`api.shapes`) only render. Who may see a ticket is asked of
`tickets.selectors`; every write is a use case (`usecases.tickets`, `usecases.escalation`),
with `now` read once here.
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
    THROTTLED,
    AmountField,
    ApprovalRequestThrottle,
    ConsultThrottle,
    ErrorOut,
    EscalateThrottle,
    EstimateThrottle,
    Pages,
    ReplyThrottle,
    TicketCreateThrottle,
    files_field,
    valid,
)
from api.shapes import (
    CLOCKS,
    PENDING_APPROVAL,
    ApprovalOut,
    ConsultationOut,
    TicketOut,
    tickets_rendered,
)
from escalation.models import ApprovalKind
from sla.models import Clock
from teams.models import Team
from tickets.models import Category, Channel, Priority, Status, Ticket
from tickets.rendering import MessageOut
from tickets.selectors import access_ticket, thread_visible_to, tickets_visible_to
from usecases import escalation as escalation_use_cases
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


TEAM_SLUG_MAX = Team._meta.get_field("slug").max_length


@extend_schema_serializer(component_name="Escalate")
class EscalateIn(serializers.Serializer):
    team = serializers.CharField(
        max_length=TEAM_SLUG_MAX,
        help_text="The slug of the team that takes the request over (`/api/v1/teams/`).",
    )
    reason = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        help_text="Why, in plain words: the customer reads it in the notice. Required.",
    )


@extend_schema_serializer(component_name="Consult")
class ConsultIn(serializers.Serializer):
    team = serializers.CharField(
        max_length=TEAM_SLUG_MAX, help_text="The slug of the team asked for help."
    )
    note = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        help_text="What you ask the team (an internal note; the customer never sees it).",
    )


@extend_schema_serializer(component_name="Estimate")
class EstimateIn(serializers.Serializer):
    seconds = serializers.IntegerField(
        help_text="The resolution target, in the owning team's working time: from 60 seconds "
        "to 90 days."
    )
    note = serializers.CharField(
        max_length=BODY_MAX_CHARS,
        allow_blank=True,
        required=False,
        default="",
        help_text="Told to the customer with the estimate, e.g. what the work involves.",
    )


@extend_schema_serializer(component_name="ApprovalCreate")
class ApprovalCreateIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApprovalKind.choices)
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
        help_text="Where money is involved (required for a billing credit): more than 0, at "
        'most two decimals, e.g. "25.00".',
    )
    currency = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        default="",
        help_text="Three letters (ISO 4217) with an amount; the helpdesk's own when omitted.",
    )


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

    THROTTLES = {
        "create": TicketCreateThrottle,
        "escalate": EscalateThrottle,
        "consult": ConsultThrottle,
        "estimate": EstimateThrottle,
        "approvals": ApprovalRequestThrottle,
        "messages": ReplyThrottle,
    }

    def get_throttles(self):
        throttle = self.THROTTLES.get(self.action)
        return [throttle()] if throttle else super().get_throttles()

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
        setattr(ticket, PENDING_APPROVAL, None)  # just opened: nothing asked of management yet
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

    @extend_schema(
        request=EscalateIn,
        responses={
            200: TicketOut,
            400: OpenApiResponse(
                ErrorOut,
                description="Invalid input, no reason, an unknown or inactive team, management "
                "(ask for an approval instead), the team that owns it already, a closed ticket",
            ),
            401: ERRORS[401],
            403: OpenApiResponse(ErrorOut, description="Customers may not escalate"),
            404: ERRORS[404],
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def escalate(self, request, pk=None):
        """Pass the request to another team: the customer is told, in the same thread and by
        email, which team, why (the reason given) and, when that team is not at work, when it
        starts; the clocks move to that team's calendar with the time already spent kept."""
        ticket = access_ticket(request.user, pk)
        data = valid(EscalateIn, request.data)
        ticket = escalation_use_cases.ticket_escalate(
            ticket_id=ticket.pk,
            actor=request.user,
            team=data["team"],
            reason=data["reason"],
            now=timezone.now(),
        )
        return Response(self._render(ticket))

    @extend_schema(
        request=ConsultIn,
        responses={
            201: ConsultationOut,
            400: OpenApiResponse(
                ErrorOut,
                description="Invalid input, no note, an unknown or inactive team, management, "
                "the team that owns it, a closed ticket",
            ),
            401: ERRORS[401],
            403: OpenApiResponse(ErrorOut, description="Customers may not consult"),
            404: ERRORS[404],
            409: OpenApiResponse(ErrorOut, description="That team is already asked (open)"),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def consult(self, request, pk=None):
        """Ask another team for help without moving the request: it sees the ticket and
        answers with an internal note; the clocks stay; the customer sees nothing of it."""
        ticket = access_ticket(request.user, pk)
        data = valid(ConsultIn, request.data)
        consultation = escalation_use_cases.ticket_consult(
            ticket_id=ticket.pk,
            actor=request.user,
            team=data["team"],
            note=data["note"],
            now=timezone.now(),
        )
        return Response(ConsultationOut(consultation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=EstimateIn,
        responses={
            200: TicketOut,
            400: OpenApiResponse(ErrorOut, description="Invalid input, seconds out of bounds"),
            401: ERRORS[401],
            403: OpenApiResponse(ErrorOut, description="Customers may not give estimates"),
            404: ERRORS[404],
            409: OpenApiResponse(ErrorOut, description="The ticket is resolved or closed"),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def estimate(self, request, pk=None):
        """Give a non-standard request its estimate: it becomes the resolution target on the
        owning team's calendar, and the customer is told by when to expect it."""
        ticket = access_ticket(request.user, pk)
        data = valid(EstimateIn, request.data)
        ticket = escalation_use_cases.ticket_estimate(
            ticket_id=ticket.pk,
            actor=request.user,
            seconds=data["seconds"],
            note=data["note"],
            now=timezone.now(),
        )
        return Response(self._render(ticket))

    @extend_schema(
        request=ApprovalCreateIn,
        responses={
            201: ApprovalOut,
            400: OpenApiResponse(
                ErrorOut,
                description="Invalid input, no reason, a missing or bad amount or currency",
            ),
            401: ERRORS[401],
            403: OpenApiResponse(ErrorOut, description="Customers may not ask for approvals"),
            404: ERRORS[404],
            409: OpenApiResponse(
                ErrorOut,
                description="The ticket is resolved or closed, or already waits for a decision",
            ),
            **THROTTLED,
        },
    )
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def approvals(self, request, pk=None):
        """Ask management to approve a billing credit, an account exception or a special
        request: the ticket waits in `pending_approval` (clocks paused), managers are told,
        and so is the customer."""
        ticket = access_ticket(request.user, pk)
        data = valid(ApprovalCreateIn, request.data)
        approval = escalation_use_cases.approval_request(
            ticket_id=ticket.pk,
            actor=request.user,
            kind=data["kind"],
            reason=data["reason"],
            amount=data["amount"],
            currency=data["currency"],
            now=timezone.now(),
        )
        return Response(ApprovalOut(approval).data, status=status.HTTP_201_CREATED)
