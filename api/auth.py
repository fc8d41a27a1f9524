"""`/api/v1/auth/token/`: a token for `Authorization: Token <key>`. It counts for
API_TOKEN_TTL_DAYS (api.authentication) and dies with any change of the password."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from accounts.services import api_token_issue
from api.common import JSON_ONLY, ErrorOut, RateFromSettings
from api.shapes import TokenOut


class TokenThrottle(RateFromSettings, SimpleRateThrottle):
    """Per client address, signed in or not: it guards password guessing."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenView(ObtainAuthToken):
    """A token for `Authorization: Token <key>`: the current one while it counts, a fresh one
    once it expired; wrong credentials (or an inactive account) answer 400."""

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
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = api_token_issue(user=serializer.validated_data["user"], now=timezone.now())
        return Response({"token": token.key})
