"""The project: settings, URLs, the ASGI and WSGI entry points, the Celery app, `make run`, the
operator's commands (`setup_support`, `seed_demo`) and the demo. On top: it wires every room."""

from helpdesk.celery import app as celery_app

__all__ = ["celery_app"]
