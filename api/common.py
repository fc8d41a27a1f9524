"""What every endpoint of the REST API shares: limits, pagination, the error shape, parsers
and how input is validated."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from api.errors import BoundedJSONParser, refuse_larger_than
from tickets.attachments import MAX_FILES_PER_MESSAGE

# The largest id a 64-bit key holds: a larger number names nobody, and SQLite cannot even bind it.
ID_MAX = 2**63 - 1
# A message is a conversation turn, not a file: pasted logs fit, bulk uploads go as attachments.
BODY_MAX_CHARS = 50_000


class RateFromSettings:
    """Reads the rate on each request: DRF's `THROTTLE_RATES` is bound when the module is
    imported, so an override of REST_FRAMEWORK (tests, a reload) would not count."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TicketCreateThrottle(RateFromSettings, UserRateThrottle):
    scope = "ticket_create"


# The escalation actions, one budget each per user: generous for an agent's day, a stop for a
# script gone wrong that would flood a team, the managers or a customer's thread with notices.
class EscalateThrottle(RateFromSettings, UserRateThrottle):
    scope = "ticket_escalate"


class ConsultThrottle(RateFromSettings, UserRateThrottle):
    scope = "ticket_consult"


class EstimateThrottle(RateFromSettings, UserRateThrottle):
    scope = "ticket_estimate"


class ApprovalRequestThrottle(RateFromSettings, UserRateThrottle):
    scope = "approval_request"


class ApprovalDecideThrottle(RateFromSettings, UserRateThrottle):
    scope = "approval_decide"


class ApprovalWithdrawThrottle(RateFromSettings, UserRateThrottle):
    scope = "approval_withdraw"


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
THROTTLED = {429: OpenApiResponse(ErrorOut, description="Too many requests: see Retry-After")}
JSON_ONLY = [BoundedJSONParser]
JSON_OR_FILES = [BoundedJSONParser, BoundedMultiPartParser]


def valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def files_field():
    return serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files, with a multipart/form-data body.",
    )
