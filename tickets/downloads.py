"""How an attachment leaves the server, the same from the portal, the API and the admin."""

from django.http import FileResponse, Http404

from tickets.models import Attachment

# Types a browser may be told as stored; anything else (HTML, SVG, scripts...) downloads as
# opaque bytes, so that an uploaded file can never run in our origin.
SAFE_CONTENT_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
    }
)


def attachment_response(attachment: Attachment) -> FileResponse:
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("No such attachment.") from exc
    content_type = (
        attachment.content_type
        if attachment.content_type in SAFE_CONTENT_TYPES
        else "application/octet-stream"
    )
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Should a browser still render it, the document may load nothing and run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
