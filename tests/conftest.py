import pytest
from django.conf import settings

from helpdesk import embedded


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """The Redis every test talks to: REDIS_URL (CI), else an embedded server for the run."""
    proc = embedded.start_redis(settings.REDIS_URL) if settings.REDIS_IS_EMBEDDED else None
    yield settings.REDIS_URL
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)
