"""`/api/v1/auth/token/`: a token for `Authorization: Token <key>`. It counts for
API_TOKEN_TTL_DAYS (api.authentication) and dies with any change of the password."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.services import api_token_issue
from api.common import JSON_ONLY, DoorThrottle, ErrorOut
from api.shapes import TokenOut


class TokenThrottle(DoorThrottle):
    """Per client address and per username given: it guards password guessing, counted before
    the password is checked."""

    door = "token"

    def idents(self, request) -> dict[str, str | None]:
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        return {"account": username if isinstance(username, str) else None}


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
