"""HTTP and WebSocket in one ASGI application (served by uvicorn)."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
# Django must be set up before anything imports models (the consumers do).
django.setup(set_prefix=False)


class OneRequestOneConnection(ASGIHandler):
    """Django's ASGI handler, closing the request's database connection when it is done.

    Each request runs on a thread of its own (ThreadSensitiveContext), so its connection is
    never used again; kept for CONN_MAX_AGE it stays open until the garbage collector finds
    it, one idle PostgreSQL connection per recent request, until PostgreSQL refuses new ones
    (bench/soak.py). The chat's database threads (live.db) keep theirs: they live on."""

    async def handle(self, scope, receive, send):
        try:
            await super().handle(scope, receive, send)
        finally:
            await sync_to_async(connections.close_all, thread_sensitive=True)()


django_asgi_app = OneRequestOneConnection()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from core.bodycap import BodyCapASGI  # noqa: E402
from live.auth import ChatAuthMiddlewareStack  # noqa: E402
from live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies over REQUEST_MAX_BYTES are refused before Django spools them to disk.
        "http": BodyCapASGI(django_asgi_app),
        # Session only for pages of this site (checked Origin), else an API token header.
        "websocket": ChatAuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
