"""`Authorization: Token <key>` with an expiry: REST_FRAMEWORK's first authentication class.

A module of its own, importing nothing of DRF's views: DRF reads DEFAULT_AUTHENTICATION_CLASSES
while it defines APIView, so the module named there must not import rest_framework.views
(api.auth does, through ObtainAuthToken).
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts.selectors import api_token_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token check (unknown key, inactive user: 401), and a token older than
    API_TOKEN_TTL_DAYS answers 401 with code "token_expired"."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if api_token_expired(token, now=timezone.now()):
            raise AuthenticationFailed(
                _("The token has expired. Ask for a new one at /api/v1/auth/token/."),
                code="token_expired",
            )
        return user, token
