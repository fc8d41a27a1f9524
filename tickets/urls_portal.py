"""The customer portal under /tickets/, in the `tickets` namespace."""

from django.urls import path, register_converter
from django.urls.converters import IntConverter

from tickets import views


class RowIdConverter(IntConverter):
    """An id that fits a 64-bit primary key: a longer number is no row of ours and answers 404
    from the resolver, instead of overflowing in the database driver."""

    regex = "[0-9]{1,18}"


register_converter(RowIdConverter, "row_id")

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
