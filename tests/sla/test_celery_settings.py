"""The rules every Celery task of the helpdesk keeps: an explicit name, JSON only, time limits
under the broker's visibility timeout, late acknowledgement only where a redelivery is harmless,
and a beat schedule whose runs expire before the next one."""

import pytest
from django.conf import settings

from helpdesk.celery import app

# Tasks whose service claims its row with a conditional UPDATE (or SKIP LOCKED and a mark in the
# same transaction): running one twice does nothing the second time, so a message redelivered
# after a lost worker may run again.
IDEMPOTENT = {"sla.acknowledgement_send", "tickets.email_deliver", "incidents.deliver"}


def project_tasks() -> dict:
    app.loader.import_default_modules()  # what the worker imports: every app's tasks module
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


TASKS = project_tasks()


def test_the_project_has_tasks():
    assert {"sla.sweep", "sla.acknowledgement_send", "tickets.email_deliver"} <= set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_has_an_explicit_name(name):
    task = TASKS[name]
    # Celery's automatic name is the module path: moving the function would orphan queued
    # messages and the beat schedule.
    assert name != f"{task.__module__}.{task.__name__}"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_speaks_json_only(name):
    assert TASKS[name].serializer == "json"
    assert list(app.conf.accept_content) == ["json"]
    assert app.conf.task_serializer == app.conf.result_serializer == "json"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_time_limits_stay_under_the_visibility_timeout(name):
    task = TASKS[name]
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    soft = task.soft_time_limit or app.conf.task_soft_time_limit
    hard = task.time_limit or app.conf.task_time_limit
    assert soft and hard, "a task without a time limit can outlive the visibility timeout"
    assert soft < hard < visibility


@pytest.mark.parametrize("name", sorted(TASKS))
def test_late_acknowledgement_only_for_idempotent_tasks(name):
    assert not app.conf.task_acks_late
    assert TASKS[name].acks_late == (name in IDEMPOTENT)


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_every_beat_entry_runs_a_known_task_and_expires_before_the_next_run(entry):
    schedule = settings.CELERY_BEAT_SCHEDULE[entry]
    assert schedule["task"] in TASKS
    assert 0 < schedule["options"]["expires"] <= schedule["schedule"]
    assert not TASKS[schedule["task"]].acks_late  # the next run is the retry


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_sweeps_have_a_queue_of_their_own_that_every_worker_reads(entry):
    task = settings.CELERY_BEAT_SCHEDULE[entry]["task"]
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == settings.CELERY_SWEEP_QUEUE
    # A worker started without -Q consumes every declared queue: the default and the sweeps.
    assert {q.name for q in app.conf.task_queues} == {
        app.conf.task_default_queue,
        settings.CELERY_SWEEP_QUEUE,
    }
