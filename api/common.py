"""What every endpoint of the REST API shares: limits, pagination, the error shape, parsers
and how input is validated."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.throttling import BaseThrottle

from api.errors import BoundedJSONParser, refuse_larger_than
from core.throttle import Refused, client_address, door_knock
from tickets.attachments import MAX_FILES_PER_MESSAGE

# The largest id a 64-bit key holds: a larger number names nobody, and SQLite cannot even bind it.
ID_MAX = 2**63 - 1
# A message is a conversation turn, not a file: pasted logs fit, bulk uploads go as attachments.
BODY_MAX_CHARS = 50_000


class DoorRefused(exceptions.Throttled):
    """429 with the door's own words (when to try again) and Retry-After."""

    def __init__(self, refused: Refused):
        exceptions.APIException.__init__(self, refused.detail)
        self.wait = refused.retry_after


class DoorThrottle(BaseThrottle):
    """A DRF throttle that knocks at one of the doors of `core.throttle` (DOOR_LIMITS): the
    API, the pages and the sockets share one count per door. Each request with one of
    `methods` counts as the client address and the signed-in account; `idents` says who else
    is knocking (a username given)."""

    door: str
    methods = frozenset({"POST"})

    def idents(self, request) -> dict[str, str | None]:
        user = request.user
        return {"account": str(user.pk) if user and user.is_authenticated else None}

    def allow_request(self, request, view) -> bool:
        if request.method not in self.methods:
            return True
        try:
            door_knock(self.door, {"ip": client_address(request), **self.idents(request)})
        except Refused as refused:
            raise DoorRefused(refused) from None
        return True


class TicketCreateThrottle(DoorThrottle):
    """Opening a ticket (or a chat, which opens one), per account and address."""

    door = "ticket_open"


class ReplyThrottle(DoorThrottle):
    """Writing in a ticket's thread, per account and address."""

    door = "reply"


# Escalation's actions, one door each, counted per person.
class EscalateThrottle(DoorThrottle):
    door = "escalate"


class ConsultThrottle(DoorThrottle):
    door = "consult"


class EstimateThrottle(DoorThrottle):
    door = "estimate"


class ApprovalRequestThrottle(DoorThrottle):
    door = "approval_request"


class ApprovalDecideThrottle(DoorThrottle):
    door = "approval_decide"


class ApprovalWithdrawThrottle(DoorThrottle):
    door = "approval_withdraw"


class IncidentWriteThrottle(DoorThrottle):
    """Every write on an incident, one budget per person: an update reaches every linked
    thread, a credit every linked customer."""

    door = "incident_write"
    methods = frozenset({"POST", "PATCH", "DELETE"})


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

    def get_page_size(self, request) -> int:
        """A whole number from 1 (more than 100 reads as 100); anything else is a 400, not
        the default size in silence. Left blank it is not given, as every optional filter."""
        given = request.query_params.get(self.page_size_query_param)
        if not given:
            return self.page_size
        if not (given.isascii() and given.isdigit()) or int(given) < 1:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [_("Give a whole number of at least 1.")]}
            )
        return min(int(given), self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


@extend_schema_serializer(component_name="Error")
class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for field errors: the messages of each field.",
    )


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
# A list's `page` past the last page, or no page number at all (0, "x"): DRF's paginator.
NO_PAGE = {404: OpenApiResponse(ErrorOut, description="No such page")}
THROTTLED = {429: OpenApiResponse(ErrorOut, description="Too many requests: see Retry-After")}
JSON_ONLY = [BoundedJSONParser]
JSON_OR_FILES = [BoundedJSONParser, BoundedMultiPartParser]


def valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^\d+(\.\d{1,2})?$", "nullable": True}
)
class AmountField(serializers.CharField):
    """A decimal, as a string or a JSON number; the use case decides its bounds."""


def files_field():
    return serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files, with a multipart/form-data body.",
    )
