from django.conf import settings
from django.utils.functional import SimpleLazyObject

from sla.selectors import targets_promised


def _minutes() -> dict[str, int]:
    targets = targets_promised()
    return {
        "acknowledgement_ticket_minutes": targets.acknowledgement_ticket // 60,
        "acknowledgement_chat_minutes": targets.acknowledgement_chat // 60,
        "first_response_minutes": targets.first_response // 60,
    }


def promises(request):
    """The promises of the current SLA policy, in minutes, for the pages that state them; lazy,
    so a page that states none costs no query."""
    return {
        "support_email": settings.SUPPORT_EMAIL,
        "promise": SimpleLazyObject(_minutes),
    }
