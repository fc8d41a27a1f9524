"""The Content-Security-Policy of every response: scripts only from files of this site, so that
text a customer or an attacker manages to slip into a page can never run as code.

- `script-src 'self'` without 'unsafe-inline': every script is a file under static/ (the
  admin's, drf-spectacular's split Swagger view, ours); data for them travels in `data-`
  attributes or `json_script` blocks, which are not executed.
- `style-src` keeps 'unsafe-inline': the admin, its widgets and the error pages set `style`
  attributes, and a style cannot run code.
- `img-src data:`: the admin's and Swagger UI's icons are inline SVG data URLs.
- `connect-src` names the WebSocket origin of the host the page came from as well as 'self':
  browsers that predate CSP 3 do not count ws:/wss: as 'self'.
- `frame-ancestors 'none'`, `base-uri`, `form-action` and `object-src` close framing, a
  planted <base>, forms posting elsewhere and plugins.

A response that already carries a policy (a view that needs its own) keeps it.
"""

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def policy(socket_origin: str = "") -> str:
    """The policy's text; `socket_origin` (ws://host or wss://host) is allowed to connect."""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        " ".join(filter(None, ["connect-src 'self'", socket_origin])),
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
    return "; ".join(directives)


def socket_origin(request: HttpRequest) -> str:
    """The WebSocket origin of the host `request` came to; none for a host not allowed (its
    answer is an error page that opens no socket)."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Sets the policy on every response, the pages' and all others (an error page, a file, a
    redirect): a response that is not HTML ignores it, one that a browser may still render as
    a page (a download shown inline) is covered too."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase):
        if HEADER not in response:
            response[HEADER] = policy(socket_origin(request))
        return response
