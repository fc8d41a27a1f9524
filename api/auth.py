"""`/api/v1/auth/token/`: a token for `Authorization: Token <key>`."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny

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
    """A token for `Authorization: Token <key>`; wrong credentials answer 400."""

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
        return super().post(request, *args, **kwargs)
