"""HTTP and WebSocket in one ASGI application (served by uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

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
