"""The conversation's data model, proved against the database itself.

Constraints are exercised with direct writes (`create`, queryset `update`) that bypass every
service: what is refused here is refused whatever code writes the row.
"""

import contextlib
import datetime
import re
import threading
import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.http import Http404

from tests.factories import first_line_team, make_agent, make_customer, make_team, make_ticket
from tickets.models import Assignment, Event, Message, ReferenceCounter, Status, Ticket
from tickets.selectors import access_ticket, tickets_visible_to
from tickets.services import event_record, message_post, reference_next

NOW = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
REFERENCE = re.compile(r"^HD-(\d{4})-(\d{6})$")


@pytest.fixture(autouse=True)
def _postgres_only(request):
    # Module-local until tests/conftest.py skips `@pytest.mark.postgres` for every module.
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@contextlib.contextmanager
def refused(exception=IntegrityError):
    """Expect the database to refuse the write; the savepoint keeps the test's transaction usable."""
    with pytest.raises(exception), transaction.atomic():
        yield


def number(reference: str) -> int:
    match = REFERENCE.match(reference)
    assert match, reference
    return int(match.group(2))


def post(ticket: Ticket, *, client_id: str | None, body: str = "Still down.", **fields) -> Message:
    fields.setdefault("kind", Message.Kind.CUSTOMER)
    fields.setdefault("author", ticket.customer)
    return Message.objects.create(
        ticket=ticket, channel="web", body=body, client_id=client_id, created_at=NOW, **fields
    )


# --- client_id: a resend is stored once ------------------------------------------------------


@pytest.mark.django_db
def test_a_repeated_client_id_on_one_ticket_is_refused_by_the_database():
    ticket = make_ticket(now=NOW)
    post(ticket, client_id="c-1")

    with refused():
        post(ticket, client_id="c-1")


@pytest.mark.django_db
def test_the_same_client_id_on_two_tickets_is_fine():
    customer = make_customer()
    first, second = make_ticket(customer=customer, now=NOW), make_ticket(customer=customer, now=NOW)

    post(first, client_id="c-1")
    post(second, client_id="c-1")

    assert Message.objects.filter(client_id="c-1").count() == 2


@pytest.mark.django_db
def test_messages_without_client_id_never_collide():
    ticket = make_ticket(now=NOW)  # its first message has no client_id either

    post(ticket, client_id=None)
    post(ticket, client_id=None)

    assert ticket.messages.filter(client_id__isnull=True).count() == 3


@pytest.mark.django_db
def test_message_post_with_a_repeated_client_id_returns_the_stored_message():
    ticket = make_ticket(now=NOW)
    later = NOW + datetime.timedelta(minutes=1)
    stored, created = message_post(
        ticket=ticket,
        author=ticket.customer,
        kind=Message.Kind.CUSTOMER,
        body="Hello?",
        channel="chat",
        now=later,
        client_id="c-7",
    )

    again, created_again = message_post(
        ticket=ticket,
        author=ticket.customer,
        kind=Message.Kind.CUSTOMER,
        body="Hello? (resent)",
        channel="chat",
        now=later + datetime.timedelta(seconds=5),
        client_id="c-7",
    )

    assert (created, created_again) == (True, False)
    assert again.pk == stored.pk
    assert again.body == "Hello?"
    assert ticket.messages.filter(client_id="c-7").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_client_id_resent_at_the_same_moment_is_stored_once():
    ticket = make_ticket(now=NOW)
    start = threading.Barrier(8)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def resend():
        try:
            start.wait(timeout=30)
            message, created = message_post(
                ticket=ticket,
                author=ticket.customer,
                kind=Message.Kind.CUSTOMER,
                body="Are you there?",
                channel="chat",
                now=NOW,
                client_id="c-42",
            )
            results.append((message.pk, created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=resend) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert ticket.messages.filter(client_id="c-42").count() == 1


# --- References: HD-<year>-<6 digits>, never repeated ------------------------------------------


@pytest.mark.django_db
def test_ticket_references_are_human_increasing_and_unique():
    tickets = [make_ticket(now=NOW + datetime.timedelta(minutes=i)) for i in range(3)]

    references = [t.reference for t in tickets]
    assert all(REFERENCE.match(r) and r.startswith("HD-2026-") for r in references)
    first = number(references[0])
    assert [number(r) for r in references] == [first, first + 1, first + 2]
    assert Ticket.objects.filter(reference__in=references).count() == 3


@pytest.mark.django_db
def test_each_year_has_its_own_sequence():
    assert reference_next(year=2031) == "HD-2031-000001"
    assert reference_next(year=2031) == "HD-2031-000002"
    assert reference_next(year=2032) == "HD-2032-000001"
    assert ReferenceCounter.objects.get(year=2031).last == 2


@pytest.mark.django_db
def test_the_year_of_the_reference_is_the_year_the_ticket_was_opened():
    last_of_year = make_ticket(now=datetime.datetime(2027, 12, 31, 23, 59, 59, tzinfo=datetime.UTC))
    first_of_next = make_ticket(now=datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC))

    assert last_of_year.reference.startswith("HD-2027-")
    assert first_of_next.reference == "HD-2028-000001"


@pytest.mark.django_db
def test_a_duplicate_reference_is_refused_by_the_database():
    first, second = make_ticket(now=NOW), make_ticket(now=NOW)

    with refused():
        Ticket.objects.filter(pk=second.pk).update(reference=first.reference)


def _open_in_threads(*, threads: int, per_thread: int, now: datetime.datetime) -> list[str]:
    """`threads` clients, each on its own connection, open tickets at the same moment."""
    customers = [make_customer() for _ in range(threads)]
    start = threading.Barrier(threads)
    references: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(customer):
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                reference = make_ticket(customer=customer, now=now).reference
                with lock:
                    references.append(reference)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=client, args=(c,)) for c in customers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    return references


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_never_share_a_reference():
    first_line_team()
    # A year no other test uses: its counter row is created by the race itself.
    references = _open_in_threads(
        threads=8, per_thread=25, now=datetime.datetime(2030, 5, 4, tzinfo=datetime.UTC)
    )

    assert len(references) == 200
    assert len(set(references)) == 200
    numbers = sorted(number(r) for r in references)
    assert numbers == list(range(numbers[0], numbers[0] + 200))
    assert Ticket.objects.filter(reference__startswith="HD-2030-").count() == 200


def _wait_until_a_connection_waits_on_a_lock(timeout: float = 10.0) -> None:
    # Polls a state, not a deadline: returns as soon as PostgreSQL reports the lock wait.
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    pytest.fail("the second opening never waited for the first one's counter row")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_first_two_tickets_of_a_new_year_opened_at_once_get_1_and_2():
    """Both find no counter row for the year; the second waits on the first one's INSERT."""
    first_line_team()
    customer = make_customer()
    new_year = datetime.datetime(2033, 1, 1, 0, 0, 1, tzinfo=datetime.UTC)
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    references: dict[str, str] = {}
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                references["first"] = make_ticket(customer=customer, now=new_year).reference
                first_inserted.set()
                first_may_commit.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            first_inserted.set()
            connection.close()

    def second():
        try:
            first_inserted.wait(timeout=30)
            references["second"] = make_ticket(customer=customer, now=new_year).reference
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for worker in workers:
        worker.start()
    try:
        first_inserted.wait(timeout=30)
        _wait_until_a_connection_waits_on_a_lock()
    finally:
        first_may_commit.set()
        for worker in workers:
            worker.join(timeout=30)

    assert errors == []
    assert references == {"first": "HD-2033-000001", "second": "HD-2033-000002"}
    assert ReferenceCounter.objects.get(year=2033).last == 2


# --- Check constraints ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["category", "status", "channel", "priority"])
def test_an_unknown_choice_is_refused_by_the_database(field):
    ticket = make_ticket(now=NOW)

    with refused():
        Ticket.objects.filter(pk=ticket.pk).update(**{field: "bogus"})


@pytest.mark.django_db
def test_a_resolved_ticket_needs_resolved_at():
    ticket = make_ticket(now=NOW)
    tickets = Ticket.objects.filter(pk=ticket.pk)

    with refused():
        tickets.update(status=Status.RESOLVED)
    tickets.update(status=Status.RESOLVED, resolved_at=NOW)


@pytest.mark.django_db
def test_a_closed_ticket_needs_closed_at():
    ticket = make_ticket(now=NOW)
    tickets = Ticket.objects.filter(pk=ticket.pk)

    with refused():
        tickets.update(status=Status.CLOSED, resolved_at=NOW)
    tickets.update(status=Status.CLOSED, resolved_at=NOW, closed_at=NOW)


@pytest.mark.django_db
def test_an_estimate_must_be_positive():
    ticket = make_ticket(now=NOW)
    tickets = Ticket.objects.filter(pk=ticket.pk)

    with refused():
        tickets.update(estimate_seconds=0)
    tickets.update(estimate_seconds=3600)


@pytest.mark.django_db
def test_a_system_message_has_no_author():
    ticket = make_ticket(now=NOW)

    with refused():
        post(ticket, client_id=None, kind=Message.Kind.SYSTEM, author=ticket.customer)
    post(ticket, client_id=None, kind=Message.Kind.SYSTEM, author=None)


@pytest.mark.django_db
def test_an_unknown_message_kind_is_refused():
    ticket = make_ticket(now=NOW)

    with refused():
        post(ticket, client_id=None, kind="shout")


@pytest.mark.django_db
def test_an_unknown_message_channel_is_refused():
    ticket = make_ticket(now=NOW)

    with refused():
        Message.objects.filter(ticket=ticket).update(channel="pigeon")


# --- The event log is append-only -----------------------------------------------------------


@pytest.mark.django_db
def test_an_event_cannot_be_saved_twice():
    event = make_ticket(now=NOW).events.get(action="opened")
    event.action = "rewritten"

    with pytest.raises(ValueError, match="append-only"):
        event.save()


@pytest.mark.django_db
def test_the_database_refuses_to_update_an_event():
    event = make_ticket(now=NOW).events.get(action="opened")

    # SQLite's RAISE(ABORT) is an IntegrityError; PostgreSQL's RAISE EXCEPTION an InternalError.
    with refused(DatabaseError):
        Event.objects.filter(pk=event.pk).update(action="x")
    assert Event.objects.get(pk=event.pk).action == "opened"


@pytest.mark.django_db
def test_a_person_who_acted_on_a_ticket_cannot_be_deleted():
    """Nulling the actor would be an UPDATE of the log: the deletion is refused before any SQL."""
    ticket = make_ticket(now=NOW)
    agent = make_agent(teams=(first_line_team(),))
    event_record(ticket=ticket, action="assigned", actor=agent, now=NOW)

    with pytest.raises(ProtectedError):
        agent.delete()
    assert ticket.events.filter(action="assigned", actor=agent).exists()


@pytest.mark.django_db
def test_events_go_with_their_ticket():
    ticket = make_ticket(now=NOW)
    Ticket.objects.filter(pk=ticket.pk).delete()

    assert not Event.objects.filter(ticket_id=ticket.pk).exists()


# --- Who sees a ticket ------------------------------------------------------------------------


@pytest.fixture
def two_customers_tickets(db):
    alice, bob = make_customer(), make_customer()
    return make_ticket(customer=alice, now=NOW), make_ticket(customer=bob, now=NOW)


def visible(user) -> set[int]:
    return set(tickets_visible_to(user).values_list("pk", flat=True))


def test_a_customer_sees_only_own_tickets(two_customers_tickets):
    alices, bobs = two_customers_tickets

    assert access_ticket(alices.customer, alices.pk) == alices
    with pytest.raises(Http404):
        access_ticket(alices.customer, bobs.pk)
    assert visible(alices.customer) == {alices.pk}


def test_an_agent_sees_the_tickets_of_own_teams(two_customers_tickets):
    agent = make_agent(teams=(first_line_team(),))

    assert visible(agent) == {t.pk for t in two_customers_tickets}
    assert access_ticket(agent, two_customers_tickets[0].pk) == two_customers_tickets[0]


def test_an_agent_of_another_team_sees_only_what_is_assigned_to_them(two_customers_tickets):
    alices, bobs = two_customers_tickets
    billing = make_team(slug="billing", kind="billing", tier=2, hours=())
    agent = make_agent(teams=(billing,))

    with pytest.raises(Http404):
        access_ticket(agent, alices.pk)
    Ticket.objects.filter(pk=alices.pk).update(assignee=agent)

    assert access_ticket(agent, alices.pk) == alices
    with pytest.raises(Http404):
        access_ticket(agent, bobs.pk)
    assert visible(agent) == {alices.pk}


def test_an_agent_who_once_worked_a_ticket_keeps_seeing_it(two_customers_tickets):
    alices, _ = two_customers_tickets
    billing = make_team(slug="billing", kind="billing", tier=2, hours=())
    agent = make_agent(teams=(billing,))
    Assignment.objects.create(ticket=alices, agent=agent, assigned_at=NOW)

    assert alices.assignee is None
    assert access_ticket(agent, alices.pk) == alices
    with refused():
        Assignment.objects.create(ticket=alices, agent=agent, assigned_at=NOW)


@pytest.mark.parametrize("who", ["manager", "superuser"])
def test_managers_and_admins_see_every_ticket(two_customers_tickets, who):
    user = make_agent(manager=who == "manager", superuser=who == "superuser")

    assert visible(user) == {t.pk for t in two_customers_tickets}
    assert access_ticket(user, two_customers_tickets[1].pk) == two_customers_tickets[1]


def test_anonymous_sees_nothing(two_customers_tickets):
    assert visible(AnonymousUser()) == set()
    with pytest.raises(Http404):
        access_ticket(AnonymousUser(), two_customers_tickets[0].pk)


@pytest.mark.django_db
@pytest.mark.parametrize("ticket_id", [987654321, "not-a-number", None])
def test_an_unknown_or_malformed_id_is_a_404(ticket_id):
    with pytest.raises(Http404):
        access_ticket(make_agent(manager=True), ticket_id)
