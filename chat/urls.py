"""Live chat pages: the customer's under /chat/ (namespace `chat`), the agents' console under
/admin/chat/ (namespace `chat_console`, every view behind the admin's staff login)."""

from django.contrib import admin
from django.urls import path

from chat import views
from tickets.urls_portal import RowIdConverter  # noqa: F401 (registers `row_id`)

urlpatterns = [
    path("", views.start, name="start"),
]

console_urlpatterns = [
    path("", admin.site.admin_view(views.console), name="console"),
    path("queue/", admin.site.admin_view(views.queue), name="queue"),
    path("<row_id:ticket_id>/", admin.site.admin_view(views.pane), name="pane"),
    path("<row_id:ticket_id>/take/", admin.site.admin_view(views.take), name="take"),
]
