"""URL parts shared by every interface."""

from django.urls import register_converter
from django.urls.converters import IntConverter


class RowIdConverter(IntConverter):
    """An id that fits a 64-bit primary key: a longer number is no row of ours and answers 404
    from the resolver, instead of overflowing in the database driver."""

    regex = "[0-9]{1,18}"


# `<row_id:...>` in every URL conf that imports this module.
register_converter(RowIdConverter, "row_id")


def message_id_param(value: str | None) -> int | None:
    """A message id from a query string (`?before=`), None when it is not one."""
    if value and value.isascii() and value.isdigit() and len(value) <= 18 and int(value) > 0:
        return int(value)
    return None
