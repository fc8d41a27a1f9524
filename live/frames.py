"""Server -> client frames of the live chat (API.md, "Live chat"), rendered with the REST API's
serializers so a message or a ticket has one shape everywhere. Synchronous: the consumer
calls them through `database_sync_to_async`."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import prefetch_related_objects

from accounts.roles import user_role
from api.shapes import CLOCKS, TicketOut
from tickets.models import Message, Ticket
from tickets.rendering import display_name, message_loaded, message_shape, message_written_shape
from tickets.selectors import access_ticket, thread_page, thread_visible_to


def message_frame(message: Message) -> dict:
    return shape_frame(message_shape(message), message.client_id)


def shape_frame(shape: dict, client_id: str | None) -> dict:
    frame = {"type": "message", "message": shape}
    if client_id:
        frame["client_id"] = client_id
    return frame


def broadcast_frame(event: dict) -> dict:
    """The frame of a `conversation.message` event that carries its message rendered: the same
    for every reader, so without a query (the consumer has checked the kind)."""
    return shape_frame(event["message"], event.get("client_id"))


def message_frame_for(user: AbstractBaseUser, ticket_id: int, message_id: int) -> dict | None:
    """The frame of one message as `user` may read it; None for an internal note to a customer.
    One query."""
    message = message_loaded(thread_visible_to(user, Ticket(pk=ticket_id)), message_id)
    return None if message is None else message_frame(message)


def written_frame(message: Message) -> dict:
    """The frame of a message just written on a socket (which carries no attachments), from the
    object in memory: the same frame the other sockets get from the broadcast."""
    return shape_frame(message_written_shape(message), message.client_id)


def replay_page(
    user: AbstractBaseUser, ticket_id: int, *, after: int = 0, before: int | None = None
) -> tuple[list[dict], int | None]:
    """The newest page of messages `user` may read between `after` and `before`, oldest first,
    and the id before which older ones remain unsent (None when none do)."""
    page, older = thread_page(
        thread_visible_to(user, Ticket(pk=ticket_id)), after=after, before=before
    )
    return [message_frame(message) for message in page], page[0].pk if older else None


def older_frame(before: int, after: int) -> dict:
    """Older messages between `after` and `before` were not sent: ask with a `history` frame."""
    return {"type": "older", "before": before, "after": after}


def history_frame(frames: list[dict], more_before: int | None) -> dict:
    """A page of older messages, oldest first, and whether there are older still."""
    frame = {"type": "history", "messages": [f["message"] for f in frames]}
    if more_before is not None:
        frame["older"] = more_before
    return frame


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
