"""The live conversation's strings for chat.js, translated with the page (no JS catalog)."""

import json

from django import template
from django.utils.translation import gettext

from tickets.models import Channel, Message, Status

register = template.Library()


def _strings() -> dict[str, str]:
    strings = {
        "connecting": gettext("Connecting to the live chat…"),
        "live": gettext(
            "Live: new messages appear here as they arrive. Enter sends, Shift+Enter starts "
            "a new line."
        ),
        "reconnecting": gettext("Connection lost. Reconnecting…"),
        "unavailable": gettext(
            "Live updates are not available. The form below still sends your message; "
            "reload the page to see new ones."
        ),
        "forbidden": gettext("This conversation cannot be followed live. Reload the page."),
        "sending": gettext("Sending…"),
        "queued": gettext("Not sent yet: it goes as soon as the connection is back."),
        "not_sent": gettext("Not sent: {detail}"),
        "error": gettext("Something went wrong. Please try again."),
        "typing": gettext("{name} is typing…"),
        "someone": gettext("Someone"),
        "read_by": gettext("Read by {name}"),
        "agents_none": gettext("No agent is connected right now; we answer as soon as one is."),
        "agents_one": gettext("An agent is connected."),
        "agents_many": gettext("{count} agents are connected."),
        "you": gettext("You"),
        "system": gettext("INTROSERV support · automatic message"),
        "support": gettext("INTROSERV support"),
        "agent_named": gettext("{name}, INTROSERV support"),
        "customer": gettext("Customer"),
        "unassigned": gettext("Unassigned"),
        "gap": gettext("Some earlier messages are not shown here. Reload the page to see them."),
    }
    strings.update({f"kind_{value}": str(label) for value, label in Message.Kind.choices})
    strings.update({f"channel_{value}": str(label) for value, label in Channel.choices})
    strings.update({f"status_{value}": str(label) for value, label in Status.choices})
    return strings


@register.simple_tag
def chat_strings() -> str:
    """JSON for a `data-chat-strings` attribute; the template's autoescaping quotes it."""
    return json.dumps(_strings(), ensure_ascii=False)
