"""Pages state the promises of the current policy version, not a copy of the defaults."""

import dataclasses
import datetime

import pytest
from django.test import Client

from sla.policy import DEFAULT_TARGETS
from sla.services.versions import policy_version_create

NOW = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_home_states_the_defaults_before_any_policy_version():
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<strong>2 minutes</strong>" in html
    assert "<strong>10 minutes</strong>" in html


@pytest.mark.django_db
def test_home_states_the_current_policy_version():
    policy_version_create(
        targets=dataclasses.replace(DEFAULT_TARGETS, first_response=15 * 60),
        note="night shift staffing",
        author=None,
        now=NOW,
    )
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<strong>15 minutes</strong>" in html
    assert "<strong>10 minutes</strong>" not in html


@pytest.mark.django_db
def test_a_page_that_states_no_promise_reads_no_policy(django_assert_num_queries):
    with django_assert_num_queries(0):
        Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")
