from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _redis_answers() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.HEALTHZ_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.HEALTHZ_TIMEOUT_SECONDS,
        )
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


@never_cache
@require_GET
def healthz(request):
    """200 when the database and Redis answer, else 503 naming what failed."""
    checks = {"database": _database_answers(), "redis": _redis_answers()}
    failed = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
