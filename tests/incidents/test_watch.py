"""The beat's watch: a fan-out whose task was lost is started again, and surges are noticed."""

import datetime as dt

import redis
import time_machine
from django.conf import settings

from jobs import tasks
from tests import factories
from tests.incidents.conftest import OPENED, fan_out
from usecases import incidents


def test_a_fan_out_left_undone_is_started_again(incident, lead, queue):
    broker = redis.Redis.from_url(settings.REDIS_URL)
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body="Found it.", status="identified", now=OPENED
    )
    broker.delete(queue)  # the task was lost: a broker outage at COMMIT
    with time_machine.travel(OPENED + dt.timedelta(seconds=10), tick=False):
        assert tasks.watch() == {"stalled": 0, "surges": 0}, "too soon to call it lost"
    assert broker.llen(queue) == 0
    with time_machine.travel(OPENED + dt.timedelta(minutes=1), tick=False):
        assert tasks.watch() == {"stalled": 3, "surges": 0}
    assert broker.llen(queue) == 1
    fan_out(OPENED + dt.timedelta(minutes=1))
    with time_machine.travel(OPENED + dt.timedelta(minutes=2), tick=False):
        assert tasks.watch()["stalled"] == 0


def test_the_watch_notices_a_surge(structure, queue):
    for minute in range(5):
        factories.make_ticket(data_center="mia", now=OPENED + dt.timedelta(minutes=minute))
    with time_machine.travel(OPENED + dt.timedelta(minutes=6), tick=False):
        assert tasks.watch() == {"stalled": 0, "surges": 1}
        assert tasks.watch() == {"stalled": 0, "surges": 0}, "one alert per surge"
