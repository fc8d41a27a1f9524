"""How a ticket's status follows the conversation: pure rules, no ORM."""

from tickets.models import Message, Status

PUBLIC_AGENT_KINDS = frozenset({Message.Kind.AGENT})


def status_after_message(status: str, kind: str) -> str:
    """The status a ticket takes when a message of `kind` joins its thread."""
    if kind == Message.Kind.CUSTOMER and status in (Status.RESOLVED, Status.WAITING_ON_CUSTOMER):
        # "Replying to a resolved ticket reopens it"; an answer ends the wait on the customer.
        return Status.OPEN
    if kind == Message.Kind.AGENT and status == Status.NEW:
        return Status.OPEN
    return status


def may_reply(status: str) -> bool:
    return status != Status.CLOSED
