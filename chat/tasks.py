"""Celery tasks of live chat: thin, call the service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from chat import services


# Run by beat; the service claims each chat under SKIP LOCKED and settles it in the same
# transaction, so overlapping runs never tell a customer twice. The next beat is the retry.
@shared_task(
    name="chat.fallback_sweep",
    ignore_result=True,
    soft_time_limit=settings.CHAT_SWEEP_SECONDS * 4,
    time_limit=settings.CHAT_SWEEP_SECONDS * 5,
)
def fallback_sweep() -> int:
    return len(services.chats_fall_back(now=timezone.now()))
