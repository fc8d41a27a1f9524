"""The SLA policy in the admin: managers read the versions and save a change as a new one;
agents do not get in; no version is ever changed or deleted."""

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sla.models import TARGET_FIELDS, Clock, Policy
from sla.policy import DEFAULT_TARGETS, Targets
from sla.services.versions import policy_seed, policy_version_create
from teams.services import staff_groups_ensure
from tests.factories import first_line_team, make_agent, make_ticket

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)
CHANGELIST = reverse("admin:sla_policy_changelist")
ADD = reverse("admin:sla_policy_add")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def manager():
    staff_groups_ensure()  # the group's permissions, as setup_support grants them
    return make_agent(username="marta", manager=True)


@pytest.fixture
def agent():
    staff_groups_ensure()
    return make_agent(username="alice", teams=(first_line_team(),))


def change_url(version: Policy) -> str:
    return reverse("admin:sla_policy_change", args=[version.pk])


def form_data(targets: Targets = DEFAULT_TARGETS, note: str = "") -> dict:
    data = {name: str(datetime.timedelta(seconds=getattr(targets, name))) for name in TARGET_FIELDS}
    return data | {"note": note}


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_agents_cannot_read_or_edit_the_policy(client, agent):
    version, _created = policy_seed(now=T0)
    client.force_login(agent)

    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.get(change_url(version)).status_code == 403
    assert client.post(change_url(version), form_data(Targets(first_response=60))).status_code == (
        403
    )
    assert client.post(ADD, form_data(Targets(first_response=60))).status_code == 403
    assert Policy.objects.count() == 1
    assert "sla/policy" not in client.get(reverse("admin:index")).content.decode()


def test_managers_see_which_version_is_current_and_how_many_clocks_run_on_each(client, manager):
    make_ticket(now=T0)  # four clocks on version 1
    v2 = policy_version_create(targets=Targets(first_response=300), note="", author=manager, now=T0)
    make_ticket(now=T0)
    ticket = make_ticket(now=T0)
    Clock.objects.filter(ticket=ticket, metric="acknowledgement").update(met_at=T0)
    client.force_login(manager)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    rows = {p.version: p for p in response.context["cl"].result_list}
    model_admin = response.context["cl"].model_admin
    assert model_admin.current(rows[2]) and not model_admin.current(rows[1])
    assert (model_admin.running_clocks(rows[1]), model_admin.running_clocks(rows[2])) == (4, 7)
    page = client.get(change_url(v2))
    assert page.status_code == 200
    assert "sla/policy" in client.get(reverse("admin:index")).content.decode()


def test_saving_a_change_writes_the_next_version_and_leaves_the_old_one(client, manager):
    v1, _created = policy_seed(now=T0)
    ticket = make_ticket(now=T0)
    client.force_login(manager)
    faster = Targets(first_response=5 * 60, status_update=2 * 3600)

    response = client.post(change_url(v1), form_data(faster, note="Faster first response"))

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert flashed(response) == [
        "Saved as version 2: new clocks take it, running clocks keep their targets."
    ]
    v1.refresh_from_db()
    assert v1.targets == DEFAULT_TARGETS
    v2 = Policy.objects.get(version=2)
    assert (v2.targets, v2.note, v2.created_by, v2.created_at) == (
        faster,
        "Faster first response",
        manager,
        T0,
    )
    assert set(Clock.objects.filter(ticket=ticket).values_list("policy_id", flat=True)) == {v1.pk}
    assert make_ticket(now=T0).clocks.get(metric="first_response").policy_id == v2.pk


def test_the_add_page_starts_from_the_current_version(client, manager):
    policy_seed(now=T0)
    policy_version_create(targets=Targets(first_response=300), note="", author=manager, now=T0)
    client.force_login(manager)

    form = client.get(ADD).context["adminform"].form

    assert form.initial["first_response"] == datetime.timedelta(minutes=5)
    assert form.initial["status_update"] == datetime.timedelta(hours=4)
    response = client.post(ADD, form_data(Targets(status_update=3600), note="Hourly updates"))
    assert response.status_code == 302
    assert Policy.objects.get(version=3).targets == Targets(status_update=3600)


def test_saving_without_a_change_writes_nothing(client, manager):
    v1, _created = policy_seed(now=T0)
    client.force_login(manager)

    response = client.post(change_url(v1), form_data(note=v1.note))

    assert response.status_code == 302
    assert flashed(response) == ["Nothing changed; no new version was written."]
    assert Policy.objects.count() == 1


@pytest.mark.parametrize("bad", ["00:00:00", "-01:00:00", "soon", ""])
def test_a_bad_target_is_refused_and_nothing_written(client, manager, bad):
    v1, _created = policy_seed(now=T0)
    client.force_login(manager)

    response = client.post(change_url(v1), form_data() | {"first_response": bad})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["first_response"]
    assert Policy.objects.count() == 1


def test_no_version_is_deleted(client, manager):
    v1, _created = policy_seed(now=T0)
    superuser = make_agent(superuser=True)
    for user in (manager, superuser):
        client.force_login(user)
        assert client.get(reverse("admin:sla_policy_delete", args=[v1.pk])).status_code == 403
        response = client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": v1.pk})
        assert Policy.objects.filter(pk=v1.pk).exists()
        assert response.status_code in (200, 302)


def test_the_version_list_costs_the_same_queries_for_2_and_20_versions(client, manager):
    policy_seed(now=T0)
    client.force_login(manager)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(CHANGELIST).status_code == 200
        return len(queries)

    policy_version_create(targets=Targets(first_response=300), note="", author=manager, now=T0)
    few = count()
    for n in range(18):
        policy_version_create(
            targets=Targets(first_response=300 + n), note="", author=manager, now=T0
        )
    assert count() == few
