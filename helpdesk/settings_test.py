"""Settings for the test suite: the product's settings with test-only defaults.

Defaults go into the environment before the product's settings read it, so that an explicit
`DATABASE_URL` / `REDIS_URL` (CI) still wins and a real worker started by a test inherits them.
"""

import os

os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
# Tests never share a queue or an embedded Redis with a `make run` on the same checkout, and
# the processes of a parallel run (pytest-xdist) never share a queue or cache keys.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault("CELERY_QUEUE", f"helpdesk-test{_worker}")
os.environ.setdefault("HELPDESK_EMBEDDED_REDIS", "redis-test")
os.environ.setdefault("CACHE_KEY_PREFIX", f"helpdesk-test{_worker}")
# Pub/Sub channels are shared by every process on the Redis server: a parallel run's
# processes create tickets with the same ids, and their conversations must not meet.
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"asgi-test{_worker}-{os.getpid()}")

from helpdesk.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tests run without collectstatic: serve static files from the apps' folders, as in DEBUG.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
