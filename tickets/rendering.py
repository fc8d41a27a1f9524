"""A message's public shape outside a request: what the REST API renders (`MessageOut`), with
attachment URLs as paths. The same for every reader: who may read it is checked on its kind.
The live chat's frames and the broadcast that follows COMMIT render messages here."""

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, prefetch_related_objects

from tickets.api import MessageOut, with_authors
from tickets.models import Attachment, Message
from tickets.selectors import Role, user_role

# One serializer for every render: building a ModelSerializer's fields costs more than rendering
# a message with them, and rendering keeps no state (no request in its context: URLs are paths).
MESSAGE_OUT = MessageOut()
# Prefetched without a query: what a message holds when it has no attachments.
NO_ATTACHMENTS = Prefetch("attachments", queryset=Attachment.objects.none())


def message_shape(message: Message) -> dict:
    """Plain JSON values only (dates as ISO strings): the dict also travels as msgpack."""
    return MESSAGE_OUT.to_representation(message)


def message_loaded(messages: QuerySet[Message], message_id: int) -> Message | None:
    """One message of `messages` (built on `with_authors`), ready to render, in one query:
    its attachments are read only when it has some, which a chat line seldom has."""
    message = (
        messages.prefetch_related(None)
        .annotate(has_attachments=Exists(Attachment.objects.filter(message=OuterRef("pk"))))
        .filter(pk=message_id)
        .first()
    )
    if message is not None:
        prefetch_related_objects(
            [message], "attachments" if message.has_attachments else NO_ATTACHMENTS
        )
    return message


def message_rendered(message_id: int) -> dict | None:
    message = message_loaded(with_authors(Message.objects.all()), message_id)
    return None if message is None else message_shape(message)


def message_written_shape(message: Message) -> dict:
    """The shape of a message this process has just written, without attachments, from the
    object in memory: no query. Its author is the object that wrote it, whose role
    `user_role` has usually cached already (it asked it to allow the write)."""
    author = message.author
    message.author_is_manager = author is not None and user_role(author) == Role.MANAGER
    prefetch_related_objects([message], NO_ATTACHMENTS)
    return message_shape(message)
