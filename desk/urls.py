"""The desk's own pages: the live chat console under /admin/chat/ (namespace `chat_console`,
every view behind the admin's staff login) and the managers' SLA dashboard under
/dashboard/sla/ (namespace `sla`)."""

from django.contrib import admin
from django.urls import path

from core.urls import RowIdConverter  # noqa: F401 (registers `row_id`)
from desk import chat_console, dashboard

console_urlpatterns = [
    path("", admin.site.admin_view(chat_console.console), name="console"),
    path("queue/", admin.site.admin_view(chat_console.queue), name="queue"),
    path("<row_id:ticket_id>/", admin.site.admin_view(chat_console.pane), name="pane"),
    path("<row_id:ticket_id>/take/", admin.site.admin_view(chat_console.take), name="take"),
]

dashboard_urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
]
