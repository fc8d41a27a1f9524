import os

import pytest
from django.conf import settings
from django.utils import translation

from helpdesk import embedded

pytest_plugins = ["tests.fixtures", "tests.workers"]


def pytest_configure(config):
    """Without REDIS_URL, one embedded Redis server for the run, started by the process that
    outlives the others: the only one, or the controller of a parallel run (pytest-xdist),
    whose workers all find it answering."""
    if settings.REDIS_IS_EMBEDDED and not os.environ.get("PYTEST_XDIST_WORKER"):
        config.embedded_redis = embedded.start_redis(settings.REDIS_URL)


def pytest_unconfigure(config):
    proc = getattr(config, "embedded_redis", None)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """The Redis every test talks to: REDIS_URL (CI), else the run's embedded server."""
    return settings.REDIS_URL


@pytest.fixture(scope="session", autouse=True)
def celery_test_queue(redis_server):
    """Start every run with an empty task queue: tasks left by an earlier run name rows that
    no longer exist."""
    import redis

    redis.Redis.from_url(redis_server).delete(
        settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_SWEEP_QUEUE
    )
    yield settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """A test that speaks Italian (a request with Italian headers, `translation.activate`)
    leaves the next one in English, whatever the order."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests need PostgreSQL; on the embedded SQLite they are skipped."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); SQLite has no row locks")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)
