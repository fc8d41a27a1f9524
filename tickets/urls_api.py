"""`/api/`: the REST API v1, its OpenAPI document and its browsable docs."""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.routers import SimpleRouter

from chat.api import ChatCreateView
from tickets import api

app_name = "api"

router = SimpleRouter()
router.register("tickets", api.TicketViewSet, basename="ticket")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
def not_found(request, path=""):
    """Unknown /api/ paths answer JSON like every other API error, not Django's HTML page."""
    raise NotFound()


v1 = [
    path("auth/token/", api.TokenView.as_view(), name="auth-token"),
    path("teams/", api.TeamListView.as_view(), name="team-list"),
    path("attachments/<int:pk>/", api.AttachmentDownloadView.as_view(), name="attachment-download"),
    path("chats/", ChatCreateView.as_view(), name="chat-create"),
    path("sla/", include("sla.urls_api")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^(?P<path>.*)$", not_found, name="not-found"),
]
