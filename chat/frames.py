"""Server -> client frames of the live chat (API.md, "Live chat"), rendered with the REST API's
serializers so a message or a ticket has one shape everywhere. Synchronous: the consumer
calls them through `database_sync_to_async`."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Prefetch, prefetch_related_objects

from tickets.api import CLOCKS, MessageOut, TicketOut, display_name, thread_visible_to
from tickets.models import Attachment, Message, Ticket
from tickets.selectors import Role, access_ticket, user_role

REPLAY_BATCH = 200
# One serializer for every frame: building a ModelSerializer's fields costs more than rendering
# a message with them, and rendering keeps no state (no request in its context, so attachment
# URLs are paths, as before).
MESSAGE_OUT = MessageOut()


def message_frame(message: Message) -> dict:
    frame = {"type": "message", "message": MESSAGE_OUT.to_representation(message)}
    if message.client_id:
        frame["client_id"] = message.client_id
    return frame


# Prefetched without a query: what a message holds when it has no attachments.
NO_ATTACHMENTS = Prefetch("attachments", queryset=Attachment.objects.none())


def message_frame_for(user: AbstractBaseUser, ticket_id: int, message_id: int) -> dict | None:
    """The frame of one message as `user` may read it; None for an internal note to a customer.

    One query for a chat line: its attachments are read only when it has some (a socket
    sends each message to every socket of the conversation, so each query counts).
    """
    message = (
        thread_visible_to(user, Ticket(pk=ticket_id))
        .prefetch_related(None)
        .annotate(has_attachments=Exists(Attachment.objects.filter(message=OuterRef("pk"))))
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        return None
    prefetch_related_objects(
        [message], "attachments" if message.has_attachments else NO_ATTACHMENTS
    )
    return message_frame(message)


def written_frame(message: Message, author_role: str) -> dict:
    """The frame of a message just written on a socket (which carries no attachments), from the
    object in memory: the same frame the other sockets read from the database."""
    message.author_is_manager = author_role == Role.MANAGER
    prefetch_related_objects([message], NO_ATTACHMENTS)
    return message_frame(message)


def replay_batch(user: AbstractBaseUser, ticket_id: int, after: int) -> list[dict]:
    """The next messages `user` may read with id > `after`, oldest first, one batch."""
    messages = (
        thread_visible_to(user, Ticket(pk=ticket_id))
        .filter(pk__gt=after)
        .order_by("id")[:REPLAY_BATCH]
    )
    return [message_frame(message) for message in messages]


def ticket_frame(user: AbstractBaseUser, ticket_id: int) -> tuple[dict, int]:
    """The ticket frame and the ticket's team; Http404 when `user` may no longer see it."""
    ticket = access_ticket(user, ticket_id)
    prefetch_related_objects([ticket], CLOCKS)
    return {"type": "ticket", "ticket": TicketOut(ticket).data}, ticket.team_id


def person(user: AbstractBaseUser) -> dict:
    return {"id": user.pk, "name": display_name(user), "role": user_role(user)}


def error_frame(code: str, detail: str) -> dict:
    return {"type": "error", "code": code, "detail": str(detail)}


def presence_frame(agents_online: int) -> dict:
    return {"type": "presence", "agents_online": agents_online}
