"""One error shape for the whole REST API: `{"detail", "code", "errors"?: {field: [..]}}`.

DRF's own handler answers APIExceptions only; this one also maps the use cases' ServiceError,
Django's Http404 and the request-size errors that Django raises while reading a body, so that
bad input never turns into a 500 or an HTML page. Generic messages are DRF's own where DRF's
catalog translates them.

A database that refuses or drops connections (restarting, failing over) answers 503 with
Retry-After, in JSON under /api/ and as a page elsewhere: the client may try again, and the
next request reconnects (CONN_HEALTH_CHECKS) without restarting the process.
"""

import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.errors import ServiceError

API_PREFIX = "/api/"
# A restarted PostgreSQL accepts connections again within seconds.
RETRY_AFTER_SECONDS = 5


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


class TooManyParts(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The request has too many fields or files.")
    default_code = "too_many_parts"


def refuse_larger_than(request, limit: int | None) -> None:
    """RequestTooLarge when the body the client announces is over `limit` bytes (None: no
    limit), before a byte of it is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise RequestTooLarge()


class BoundedJSONParser(parsers.JSONParser):
    """JSON with Django's body limit: DRF reads the raw stream, which skips the check that
    `request.body` makes against DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def parse(self, stream, media_type=None, parser_context=None):
        refuse_larger_than(parser_context["request"], settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return super().parse(stream, media_type, parser_context)


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as `{"field.sub": [messages]}`; lists of messages stay lists."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(errors, list) and any(isinstance(item, dict | list) for item in errors):
        flat = {}
        for index, value in enumerate(errors):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    if isinstance(errors, list):
        return {prefix: [str(item) for item in errors]} if errors else {}
    return {prefix: [str(errors)]}


def _first(detail):
    """The first message of a (possibly nested) DRF error detail."""
    while isinstance(detail, dict | list) and detail:
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
    return detail


def error_body(detail, code: str, errors: dict[str, list[str]] | None = None) -> dict:
    body = {"detail": str(detail), "code": code}
    if errors:
        body["errors"] = errors
    return body


def _validation_body(exc: exceptions.ValidationError) -> dict:
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    detail = exc.detail if isinstance(exc.detail, dict) else {non_field_key: exc.detail}
    errors = _flatten({key: value for key, value in detail.items() if key != non_field_key})
    if detail.get(non_field_key):
        first = _first(detail[non_field_key])
        return error_body(first, getattr(first, "code", None) or "invalid", errors)
    return error_body(_("Invalid input."), "invalid", errors)


def api_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every expected error in the one shape; anything
    else returns None, so that Django logs the bug and answers 500 through handler500."""
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    if isinstance(exc, ServiceError):
        set_rollback()
        errors = {exc.field: [str(exc.detail)]} if exc.field else None
        return Response(error_body(exc.detail, exc.code, errors), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = TooManyParts()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    else:
        first = _first(exc.detail)
        response.data = error_body(first, getattr(first, "code", None) or exc.default_code)
    return response


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request, exception):
    """handler404: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body(exceptions.NotFound.default_detail, "not_found"), status=404)
    return defaults.page_not_found(request, exception)


def database_unavailable(exc: BaseException | None) -> bool:
    """The database refused, dropped or timed out the connection: worth trying again."""
    return isinstance(exc, OperationalError | InterfaceError)


def service_unavailable(request):
    """503 with Retry-After: JSON under /api/, else a page rendered without the request (its
    context processors would ask the database again)."""
    if _is_api(request):
        response = JsonResponse(
            error_body(_("The service is briefly unavailable. Please try again."), "unavailable"),
            status=503,
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """handler500: JSON under /api/, Django's page elsewhere; 503 when the database is what
    failed, wherever it failed (a view, a middleware reading the session). Django calls it
    inside the `except` that caught the error, in the thread asgiref runs it on too."""
    if database_unavailable(sys.exception()):
        return service_unavailable(request)
    if _is_api(request):
        return JsonResponse(
            error_body(exceptions.APIException.default_detail, "server_error"), status=500
        )
    return defaults.server_error(request)
