"""REST API of the conversation, `/api/v1/`: parse, check, call the use case, render.

Input serializers (`...In`) only validate what the caller sent; output serializers (`...Out`)
only render. Who may see a ticket is asked of `tickets.selectors`; every write is a call to
`tickets.services`, with `now` read once here.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from escalation.models import Team
from escalation.selectors import teams_with_calendars
from escalation.services import team_calendar
from helpdesk.api_errors import BoundedJSONParser, refuse_larger_than
from sla import calendar
from sla.models import Clock
from sla.policy import Metric
from tickets import services
from tickets.attachments import MAX_FILES_PER_MESSAGE
from tickets.downloads import attachment_response
from tickets.models import Attachment, Category, Channel, Message, Priority, Status, Ticket
from tickets.selectors import (
    MANAGERS_GROUP,
    Role,
    access_attachment,
    access_ticket,
    is_staff_role,
    message_kinds_visible_to,
    tickets_visible_to,
    user_role,
)

User = get_user_model()

# The largest id a 64-bit key holds: a larger number names nobody, and SQLite cannot even bind it.
ID_MAX = 2**63 - 1
# A message is a conversation turn, not a file: pasted logs fit, bulk uploads go as attachments.
BODY_MAX_CHARS = 50_000


# --- Limits ----------------------------------------------------------------------------------


class _RateFromSettings:
    """Reads the rate on each request: DRF's `THROTTLE_RATES` is bound when the module is
    imported, so an override of REST_FRAMEWORK (tests, a reload) would not count."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TicketCreateThrottle(_RateFromSettings, UserRateThrottle):
    scope = "ticket_create"


class TokenThrottle(_RateFromSettings, SimpleRateThrottle):
    """Per client address, signed in or not: it guards password guessing."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class BoundedMultiPartParser(MultiPartParser):
    """Refuses a multipart body larger than a full message could be before reading it:
    Django bounds the form fields, not the files."""

    def parse(self, stream, media_type=None, parser_context=None):
        fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        limit = settings.ATTACHMENT_MAX_BYTES * MAX_FILES_PER_MESSAGE + fields
        refuse_larger_than(parser_context["request"], limit)
        return super().parse(stream, media_type, parser_context)


class Pages(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


# --- Output ----------------------------------------------------------------------------------


def display_name(user) -> str:
    return user.get_full_name() or user.get_username()


@extend_schema_serializer(component_name="Error")
class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for field errors: the messages of each field.",
    )


@extend_schema_serializer(component_name="Person")
class PersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return display_name(user)


@extend_schema_serializer(component_name="Author")
class AuthorOut(PersonOut):
    role = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.ChoiceField(choices=[Role.CUSTOMER, Role.AGENT, Role.MANAGER, Role.ADMIN])
    )
    def get_role(self, user) -> str | None:
        return user_role(user)


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


@extend_schema_serializer(component_name="Attachment")
class AttachmentOut(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Download, with the caller's rights.")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "size", "content_type", "url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        path = reverse("api:attachment-download", args=[attachment.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


@extend_schema_serializer(component_name="Message")
class MessageOut(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id")
    author = serializers.SerializerMethodField()
    attachments = AttachmentOut(many=True)

    class Meta:
        model = Message
        fields = ["id", "ticket", "author", "kind", "channel", "body", "created_at", "attachments"]
        read_only_fields = fields

    @extend_schema_field(AuthorOut(allow_null=True))
    def get_author(self, message: Message):
        author = message.author
        if author is None:
            return None
        if author.is_staff and not author.is_superuser:
            # The thread query already answered the managers-group question for each author;
            # handing it to user_role's cache keeps the page's query count constant.
            author._helpdesk_role = Role.MANAGER if message.author_is_manager else Role.AGENT
        return AuthorOut(author).data


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


# --- Input -----------------------------------------------------------------------------------


def valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _files_field():
    return serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files, with a multipart/form-data body.",
    )


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
    attachments = _files_field()

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
    attachments = _files_field()


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


# --- Queries ---------------------------------------------------------------------------------


def tickets_rendered(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Everything TicketOut reads, in a fixed number of queries whatever the page size."""
    return tickets.select_related("team", "customer", "assignee").prefetch_related(CLOCKS)


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


def with_authors(messages: QuerySet[Message]) -> QuerySet[Message]:
    """`messages` with what `MessageOut` renders of their authors, role included, in the query."""
    in_managers = User.groups.through.objects.filter(
        user_id=OuterRef("author_id"), group__name=MANAGERS_GROUP
    )
    return messages.select_related("author").annotate(author_is_manager=Exists(in_managers))


def thread_visible_to(user, ticket: Ticket) -> QuerySet[Message]:
    """The messages of a ticket `user` may read: customers never see internal notes."""
    messages = (
        with_authors(Message.objects.filter(ticket_id=ticket.pk))
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return messages.filter(kind__in=message_kinds_visible_to(user))


# --- Views -----------------------------------------------------------------------------------

ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Invalid input"),
    401: OpenApiResponse(ErrorOut, description="Not signed in"),
    404: OpenApiResponse(ErrorOut, description="No such ticket, or not yours to see"),
}
ACTION_ERRORS = {
    **ERRORS,
    403: OpenApiResponse(ErrorOut, description="Not allowed for your role"),
    409: OpenApiResponse(ErrorOut, description="Not possible in the ticket's state"),
}
JSON_ONLY = [BoundedJSONParser]
JSON_OR_FILES = [BoundedJSONParser, BoundedMultiPartParser]


class TicketViewSet(viewsets.GenericViewSet):
    queryset = Ticket.objects.none()  # the schema's model; requests use tickets_visible_to
    serializer_class = TicketOut
    pagination_class = Pages
    parser_classes = JSON_OR_FILES
    lookup_value_regex = r"\d+"

    def get_throttles(self):
        if self.action == "create":
            return [TicketCreateThrottle()]
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
        ticket = services.ticket_open(
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
        message, created = services.ticket_reply(
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
        ticket = services.ticket_assign(
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
        ticket = services.ticket_resolve(
            ticket_id=ticket.pk, actor=request.user, summary=data["summary"], now=timezone.now()
        )
        return Response(self._render(ticket))

    @extend_schema(request=None, responses={200: TicketOut, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], parser_classes=JSON_ONLY)
    def confirm(self, request, pk=None):
        ticket = access_ticket(request.user, pk)
        valid(ConfirmIn, request.data)
        ticket = services.ticket_confirm(
            ticket_id=ticket.pk, customer=request.user, now=timezone.now()
        )
        return Response(self._render(ticket))


class AnyAcceptNegotiation(BaseContentNegotiation):
    """A download answers whatever the client accepts; errors are still JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AttachmentDownloadView(APIView):
    content_negotiation_class = AnyAcceptNegotiation
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="attachments_download",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            401: OpenApiResponse(ErrorOut),
            404: OpenApiResponse(ErrorOut),
        },
    )
    def get(self, request, pk: int):
        attachment = access_attachment(request.user, attachment_id=pk)
        return attachment_response(attachment)


class TeamListView(APIView):
    @extend_schema(
        operation_id="teams_list",
        responses={200: TeamOut(many=True), 401: OpenApiResponse(ErrorOut)},
    )
    def get(self, request):
        now = timezone.now()
        teams = list(teams_with_calendars(Team.objects.filter(active=True)))
        for team in teams:
            cal = team_calendar(team)
            try:
                team.open_now = calendar.is_open(now, cal)
                team.next_open_at = None if team.open_now else calendar.next_open(now, cal)
            except calendar.AlwaysClosedError:  # no working time ahead: it never opens
                team.open_now, team.next_open_at = False, None
        return Response(TeamOut(teams, many=True).data)


class TokenView(ObtainAuthToken):
    """A token for `Authorization: Token <key>`; wrong credentials answer 400."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    parser_classes = JSON_ONLY

    @extend_schema(
        operation_id="auth_token_create",
        request=AuthTokenSerializer,
        responses={
            200: TokenOut,
            400: OpenApiResponse(ErrorOut, description="Wrong credentials"),
            429: OpenApiResponse(ErrorOut),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
