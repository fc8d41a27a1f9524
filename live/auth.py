"""Who is on a WebSocket: a session cookie from a page of this site, or an API token.

Browsers send an `Origin` header with every WebSocket handshake and attach cookies whatever
the page that opens it, so a session counts only when the origin is this site (no
cross-site WebSocket hijacking). A socket with a foreign origin is nobody. Programs send no
origin and authenticate with `Authorization: Token <key>`, which a browser page cannot set.
"""

from urllib.parse import urlparse

from channels.auth import get_user
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import is_same_domain, split_domain_port, validate_host
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.selectors import api_token_expired
from live.db import database_sync_to_async


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None


def _allowed_hosts() -> list[str]:
    hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(origin: str, host: str | None) -> bool:
    """Same origin as the request's host (itself one of ALLOWED_HOSTS), or a trusted origin,
    as Django's CSRF check decides for a form post."""
    parsed = urlparse(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    if host:
        domain, _port = split_domain_port(host)
        if validate_host(domain, _allowed_hosts()) and parsed.netloc.lower() == host.lower():
            return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        pattern = urlparse(trusted)
        if pattern.scheme == parsed.scheme and is_same_domain(
            parsed.netloc.lower(), pattern.netloc.lower()
        ):
            return True
    return False


def token_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _space, key = authorization.partition(" ")
    if scheme.lower() != "token" or not key.strip():
        return None
    return key.strip()


@database_sync_to_async
def user_for_token(key: str):
    """The token's user, or nobody: an unknown or expired token, an inactive account."""
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active or api_token_expired(token, now=timezone.now()):
        return AnonymousUser()
    return token.user


class ChatAuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]`: the token's user, else the session's for a same-origin page."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        origin = _header(scope, b"origin")
        key = token_key(_header(scope, b"authorization"))
        if origin is not None and not origin_allowed(origin, _header(scope, b"host")):
            scope["user"] = AnonymousUser()
        elif key is not None:
            scope["user"] = await user_for_token(key)
        elif origin is not None:
            scope["user"] = await get_user(scope)
        else:
            scope["user"] = AnonymousUser()
        return await super().__call__(scope, receive, send)


def ChatAuthMiddlewareStack(inner):  # named like Channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(ChatAuthMiddleware(inner)))
