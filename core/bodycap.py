"""A cap on request bodies, in front of Django (helpdesk.asgi, helpdesk.wsgi).

Under ASGI Django reads a whole body into a temporary file before it routes the request, so a
limit checked in a view or a parser comes after the disk and the bandwidth are spent: a client
could send gigabytes to any URL. Here a body is refused before routing when it is larger than
`settings.REQUEST_MAX_BYTES` (the largest legitimate one: a message with its files):

- a declared Content-Length over the cap is answered at once, before a byte of the body is
  read; a client that waits for `100 Continue` never sends it;
- a body without a declared length (chunked) is read until it passes the cap, then Django is
  told the client went away and the refusal is answered instead.

The answer is 413: the API's error shape under /api/, the site's page elsewhere, in the
visitor's language. Under WSGI, Django reads no more than the declared length, so the declared
length is the one to check.
"""

import io
import json
from http import HTTPStatus

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext

from core import csp

API_PREFIX = "/api/"
STATUS = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
# The API's code for this refusal (api.errors.RequestTooLarge), so clients see one code.
API_CODE = "request_too_large"


def _declared_length(value: str | bytes | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None  # the server refuses a malformed length itself


def refusal(request: HttpRequest) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of the 413 answer to `request` (whose body is never read)."""
    with translation.override(translation.get_language_from_request(request)):
        if request.path.startswith(API_PREFIX):
            content_type = "application/json"
            body = json.dumps(
                {"detail": gettext("The request body is too large."), "code": API_CODE}
            ).encode()
        else:
            content_type = "text/html; charset=utf-8"
            megabytes = max(1, settings.REQUEST_MAX_BYTES // (1024 * 1024))
            body = render_to_string("413.html", {"megabytes": megabytes}, request=request).encode()
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        (csp.HEADER, csp.policy()),
        ("X-Content-Type-Options", "nosniff"),
        # The body is left unread: this connection cannot carry another request.
        ("Connection", "close"),
    ]
    return headers, body


class BodyCapASGI:
    """ASGI middleware for the HTTP application; other protocols pass through."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.REQUEST_MAX_BYTES
        headers = dict(scope.get("headers") or [])
        declared = _declared_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            return await self._refuse(scope, send)

        received = 0
        over = False
        started = False

        async def bounded_receive():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django stops reading and answers nothing; the refusal is sent below.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, bounded_receive, watched_send)
        if over and not started:
            await self._refuse(scope, send)

    @staticmethod
    async def _refuse(scope, send) -> None:
        request = ASGIRequest(scope, io.BytesIO())
        headers, body = await sync_to_async(refusal)(request)
        await send(
            {
                "type": "http.response.start",
                "status": STATUS,
                "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyCapWSGI:
    """WSGI middleware: a declared length over the cap is refused before Django reads it."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        declared = _declared_length(environ.get("CONTENT_LENGTH"))
        if declared is not None and declared > settings.REQUEST_MAX_BYTES:
            headers, body = refusal(WSGIRequest(environ))
            start_response(f"{STATUS.value} {STATUS.phrase}", headers)
            return [body]
        return self.app(environ, start_response)
