"""`/api/v1/attachments/<id>/`: a file of a message, with the caller's rights."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from api.common import ErrorOut
from tickets.downloads import attachment_response
from tickets.selectors import access_attachment


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
            # The file, with the type it was stored with (image/png, application/pdf...).
            (200, "*/*"): OpenApiTypes.BINARY,
            401: OpenApiResponse(ErrorOut),
            404: OpenApiResponse(ErrorOut),
        },
    )
    def get(self, request, pk: int):
        attachment = access_attachment(request.user, attachment_id=pk)
        return attachment_response(attachment)
