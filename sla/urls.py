"""`/dashboard/sla/`: the managers' page."""

from django.urls import path

from sla import views

app_name = "sla"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
