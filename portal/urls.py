"""The customer portal: the tickets under /tickets/ (namespace `tickets`), the chat's start
page under /chat/ (namespace `chat`), the public status page under /status/ (namespace
`status`)."""

from django.urls import path

from core.urls import RowIdConverter  # noqa: F401 (registers `row_id`)
from portal import chat, status
from portal import tickets as views

urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("new/", views.ticket_new, name="new"),
    path("<row_id:ticket_id>/", views.ticket_detail, name="detail"),
    path("<row_id:ticket_id>/confirm/", views.ticket_confirm, name="confirm"),
    path(
        "<row_id:ticket_id>/attachments/<row_id:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
]

chat_urlpatterns = [
    path("", chat.start, name="start"),
]

status_urlpatterns = [
    path("", status.page, name="page"),
    path("feed/", status.feed, name="feed"),
    path("incidents/<row_id:incident_id>/", status.incident, name="incident"),
    path("incidents/<row_id:incident_id>/follow/", status.follow, name="follow"),
]
