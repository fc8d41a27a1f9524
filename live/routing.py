"""WebSocket routes: the live transport of a ticket's conversation."""

from django.urls import re_path

from live.consumers import ConversationConsumer

# Any id reaches the consumer, which closes with 4403 for what the user may not see, so a
# malformed id is refused like a forbidden one instead of failing the route.
websocket_urlpatterns = [
    re_path(r"^ws/conversations/(?P<ticket_id>[^/]+)/$", ConversationConsumer.as_asgi()),
]
