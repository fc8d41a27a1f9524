"""Celery tasks of live chat: thin, call the service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from chat import services


# Run by beat. Each service claims its chats under SKIP LOCKED and settles them in the same
# transaction, so overlapping runs never email a customer twice. The next beat is the retry.
@shared_task(
    name="chat.fallback_sweep",
    ignore_result=True,
    soft_time_limit=settings.CHAT_SWEEP_SECONDS * 4,
    time_limit=settings.CHAT_SWEEP_SECONDS * 5,
)
def fallback_sweep() -> int:
    """Chats nobody took continue by email; replies left unread are emailed. How many
    customers were emailed."""
    now = timezone.now()
    return len(services.chats_fall_back(now=now)) + len(services.chats_unread_email(now=now))
