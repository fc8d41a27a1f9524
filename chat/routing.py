"""WebSocket routes. The conversation consumer joins here with the live chat."""

websocket_urlpatterns: list = []
