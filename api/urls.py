"""`/api/`: the REST API v1, its OpenAPI document and its browsable docs."""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.routers import SimpleRouter

from api import approvals, attachments, auth, chats, incidents, sla, teams, tickets

app_name = "api"

router = SimpleRouter()
router.register("tickets", tickets.TicketViewSet, basename="ticket")
router.register("approvals", approvals.ApprovalViewSet, basename="approval")
router.register("incidents", incidents.IncidentViewSet, basename="incident")
router.register("sla/breaches", sla.BreachViewSet, basename="sla-breach")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
def not_found(request, path=""):
    """Unknown /api/ paths answer JSON like every other API error, not Django's HTML page."""
    raise NotFound()


v1 = [
    path("auth/token/", auth.TokenView.as_view(), name="auth-token"),
    path("teams/", teams.TeamListView.as_view(), name="team-list"),
    path(
        "attachments/<int:pk>/",
        attachments.AttachmentDownloadView.as_view(),
        name="attachment-download",
    ),
    path("chats/", chats.ChatCreateView.as_view(), name="chat-create"),
    path("sla/summary/", sla.SummaryView.as_view(), name="sla-summary"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file (`?script`): the pages' CSP runs no
    # inline script (core.csp).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^(?P<path>.*)$", not_found, name="not-found"),
]
