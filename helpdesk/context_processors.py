from django.conf import settings

from sla.policy import DEFAULT_TARGETS


def promises(request):
    """The guide's promises, in minutes, for every page that states them."""
    return {
        "support_email": settings.SUPPORT_EMAIL,
        "promise": {
            "acknowledgement_ticket_minutes": DEFAULT_TARGETS.acknowledgement_ticket // 60,
            "acknowledgement_chat_minutes": DEFAULT_TARGETS.acknowledgement_chat // 60,
            "first_response_minutes": DEFAULT_TARGETS.first_response // 60,
        },
    }
