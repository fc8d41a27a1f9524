"""`/api/v1/sla/`: the managers' reports, included in `tickets.urls_api` (namespace `api`)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from sla import api

router = SimpleRouter()
router.register("breaches", api.BreachViewSet, basename="sla-breach")

urlpatterns = [
    path("summary/", api.SummaryView.as_view(), name="sla-summary"),
    path("", include(router.urls)),
]
