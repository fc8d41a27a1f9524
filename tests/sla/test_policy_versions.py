"""The SLA policy as versioned data: new clocks take the current version, running clocks keep
the targets they started with, `setup_support` seeds version 1 once and never over an edit."""

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sla import policy
from sla.models import Clock, Policy
from sla.policy import DEFAULT_TARGETS, Targets
from sla.services.acknowledgement import acknowledgement_send
from sla.services.versions import policy_current, policy_seed, policy_version_create
from tests.factories import first_line_team, make_agent, make_ticket
from tickets.models import Category, Channel, Message, Status
from usecases.tickets import ticket_reply, ticket_resolve

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)  # a Monday
MINUTE = datetime.timedelta(minutes=1)
FASTER = Targets(
    acknowledgement_ticket=60,
    acknowledgement_chat=30,
    first_response=300,
    status_update=2 * 3600,
    resolution_simple=20 * 60,
    resolution_standard=3600,
    resolution_complex=4 * 3600,
)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def support_agent():
    return make_agent(teams=(first_line_team(),))


def clocks_of(ticket) -> dict[str, Clock]:
    """The running clock of each metric."""
    return {
        c.metric: c
        for c in Clock.objects.filter(ticket=ticket, met_at__isnull=True, cancelled_at__isnull=True)
    }


# --- Pure ---------------------------------------------------------------------------------


def test_targets_are_positive_seconds():
    with pytest.raises(ValueError, match="first_response"):
        Targets(first_response=0)
    with pytest.raises(ValueError, match="status_update"):
        Targets(status_update=-1)
    with pytest.raises(ValueError, match="resolution_simple"):
        Targets(resolution_simple=1.5)


def test_the_pure_rules_read_the_targets_they_are_given():
    assert policy.acknowledgement_target(Channel.CHAT, FASTER) == 30
    assert policy.acknowledgement_target(Channel.EMAIL, FASTER) == 60
    assert policy.resolution_target(Category.BILLING, None, FASTER) == 20 * 60
    assert policy.resolution_target(Category.VPS, None, FASTER) == 3600
    assert policy.resolution_target(Category.CUSTOM_CONFIG, None, FASTER) == 4 * 3600
    # An agent's estimate is the promise, whatever the version says.
    assert policy.resolution_target(Category.BILLING, 5400, FASTER) == 5400


def test_a_version_round_trips_its_targets():
    version = Policy(version=1, created_at=T0, **Policy.fields_of(FASTER))
    assert version.targets == FASTER


# --- Versions -------------------------------------------------------------------------------


def test_the_first_ticket_seeds_version_one_from_the_defaults(clock):
    assert not Policy.objects.exists()

    ticket = make_ticket(now=T0)

    version = Policy.objects.get()
    assert (version.version, version.targets, version.created_by) == (1, DEFAULT_TARGETS, None)
    clocks = clocks_of(ticket)
    assert {c.policy_id for c in clocks.values()} == {version.pk}
    assert clocks["first_response"].target_seconds == 600
    assert clocks["status_update"].target_seconds == 4 * 3600


def test_a_new_version_applies_to_new_clocks_and_leaves_running_ones_as_they_were(clock):
    manager = make_agent(manager=True)
    before = make_ticket(now=T0, category=Category.VPS)
    running = {m: (c.target_seconds, c.due_at, c.policy_id) for m, c in clocks_of(before).items()}

    clock.shift(MINUTE)
    v2 = policy_version_create(targets=FASTER, note="Faster", author=manager, now=T0 + MINUTE)
    after = make_ticket(now=T0 + MINUTE, category=Category.VPS)

    assert v2.version == 2
    assert policy_current(now=T0 + MINUTE) == v2
    assert {m: (c.target_seconds, c.due_at, c.policy_id) for m, c in clocks_of(before).items()} == (
        running
    )
    new = clocks_of(after)
    assert {c.policy_id for c in new.values()} == {v2.pk}
    assert new["first_response"].due_at == T0 + MINUTE + datetime.timedelta(seconds=300)
    assert new["resolution"].target_seconds == 3600
    # Version 1 is still there, unchanged, with the clocks it set.
    v1 = Policy.objects.get(version=1)
    assert v1.targets == DEFAULT_TARGETS
    assert v1.clocks.filter(ticket=before).count() == 4


def test_starting_clocks_reads_the_policy_once(clock):
    make_ticket(now=T0)  # seeds version 1

    with CaptureQueriesContext(connection) as queries:
        make_ticket(now=T0)

    reads = [q["sql"] for q in queries if '"sla_policy"' in q["sql"]]
    assert len(reads) == 1, reads


def test_a_reopened_ticket_gets_fresh_clocks_on_the_current_version(clock):
    agent = support_agent()
    ticket = make_ticket(now=T0, category=Category.BILLING)
    v1 = Policy.objects.get()
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Refunded.", now=T0 + MINUTE)
    v2 = policy_version_create(targets=FASTER, note="", author=agent, now=T0 + 2 * MINUTE)

    clock.shift(3 * MINUTE)
    reopened_at = T0 + 3 * MINUTE
    ticket_reply(
        ticket_id=ticket.pk,
        author=ticket.customer,
        body="Still charged twice.",
        channel=Channel.WEB,
        now=reopened_at,
    )

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    fresh = clocks_of(ticket)
    assert fresh["first_response"].policy_id == v2.pk
    assert fresh["first_response"].due_at == reopened_at + datetime.timedelta(seconds=300)
    assert fresh["resolution"].policy_id == v2.pk
    assert fresh["resolution"].target_seconds == 20 * 60
    # The acknowledgement of the first request was set, and stays, on version 1.
    assert Clock.objects.get(ticket=ticket, metric="acknowledgement").policy_id == v1.pk


def test_a_status_update_restarted_by_a_reply_takes_the_current_version(clock):
    agent = support_agent()
    ticket = make_ticket(now=T0)
    v2 = policy_version_create(targets=FASTER, note="", author=agent, now=T0)

    clock.shift(MINUTE)
    ticket_reply(
        ticket_id=ticket.pk, author=agent, body="Looking.", channel=Channel.WEB, now=T0 + MINUTE
    )

    update = clocks_of(ticket)["status_update"]
    assert (update.policy_id, update.target_seconds) == (v2.pk, 2 * 3600)
    assert update.due_at == T0 + MINUTE + datetime.timedelta(hours=2)


def test_versions_are_numbered_in_order(clock):
    agent = make_agent()
    policy_seed(now=T0)
    numbers = [
        policy_version_create(targets=FASTER, note=str(n), author=agent, now=T0).version
        for n in range(3)
    ]
    assert numbers == [2, 3, 4]
    assert policy_current(now=T0).version == 4


def test_the_acknowledgement_promises_the_first_response_of_the_tickets_version(clock):
    agent = make_agent()
    policy_seed(now=T0)
    policy_version_create(targets=Targets(first_response=15 * 60), note="", author=agent, now=T0)
    ticket = make_ticket(now=T0)

    message = acknowledgement_send(ticket_id=ticket.pk, now=T0 + datetime.timedelta(seconds=1))

    assert message.kind == Message.Kind.SYSTEM
    assert "within 15 minutes" in message.body


# --- setup_support --------------------------------------------------------------------------


def setup_support() -> str:
    out = io.StringIO()
    call_command("setup_support", stdout=out)
    return out.getvalue()


def test_setup_support_seeds_version_one_once():
    first = setup_support()
    second = setup_support()

    assert Policy.objects.count() == 1
    assert Policy.objects.get().targets == DEFAULT_TARGETS
    assert "SLA policy version 1 written" in first
    assert "SLA policy already in place (current version 1)" in second


def test_setup_support_never_overwrites_a_managers_edit():
    setup_support()
    manager = make_agent(manager=True)
    edited = policy_version_create(
        targets=FASTER, note="Faster", author=manager, now=datetime.datetime.now(datetime.UTC)
    )

    output = setup_support()

    assert Policy.objects.count() == 2
    assert policy_current(now=T0) == edited
    assert Policy.objects.get(version=2).targets == FASTER
    assert "current version 2" in output
