"""The customer portal under /tickets/, in the `tickets` namespace."""

from django.urls import path

from tickets import views

urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("new/", views.ticket_new, name="new"),
    path("<int:ticket_id>/", views.ticket_detail, name="detail"),
    path("<int:ticket_id>/confirm/", views.ticket_confirm, name="confirm"),
    path(
        "<int:ticket_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
]
