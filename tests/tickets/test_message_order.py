"""Message ids commit in their order, per ticket: the guarantee the chat's `after=<id>` stands on.

A client that has seen message n asks for what comes after n. That is complete only if no
message of the ticket with an id below n commits after n did. Ids come from a sequence when
the row is inserted, not when it commits: without a common lock, a system message could take
id 11 and commit after a reply that took id 12, and a client that already saw 12 would never
see 11. So every message of an existing ticket is inserted under the ticket's row lock
(`tickets.services.ticket_lock`, taken by `message_post`), and its id is drawn only once the
lock is held: whoever inserts second waits until the first has committed, and gets a larger id.

Each test holds the lock in one thread, as a reply in progress does (a message inserted, not
yet committed), and runs another path in a second thread: it waits on the lock (seen in
pg_stat_activity, not guessed with a sleep) and, once the first commits, stores a larger id.
The sweeps do not wait while they hold other rows: they skip the ticket and post on their next
run, again after the held message.
"""

import datetime
import queue
import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.utils import timezone

from chat.models import Chat
from chat.services import chats_fall_back, chats_unread_email
from sla.models import Breach, Clock
from sla.policy import Metric
from sla.services import acknowledgement
from sla.services import sweep as sla_sweep
from tests import factories
from tickets.models import Channel, Message, Ticket
from tickets.services import message_post, ticket_lock
from usecases.tickets import ticket_reply, ticket_resolve

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 10


@pytest.fixture
def people(db):
    team = factories.first_line_team()
    return {
        "customer": factories.make_customer(username="anna"),
        "agent": factories.make_agent(username="marco", teams=(team,)),
    }


class Holder:
    """A reply in progress in its own thread, as `ticket_reply` runs: it locks the ticket first,
    stores its message when told (`insert()`), and commits on `release()`."""

    def __init__(self, ticket: Ticket, author, kind: str):
        self.ticket, self.author, self.kind = ticket, author, kind
        self.locked, self.go, self.inserted = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )
        self.released = threading.Event()
        self.message_id: int | None = None
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with transaction.atomic():
                ticket_lock(ticket_id=self.ticket.pk)
                self.locked.set()
                assert self.go.wait(WAIT_SECONDS), "never told to insert"
                message, _new = message_post(
                    ticket=self.ticket,
                    author=self.author,
                    kind=self.kind,
                    body="held",
                    channel=Channel.CHAT,
                    now=timezone.now(),
                )
                self.message_id = message.pk
                self.inserted.set()
                assert self.released.wait(WAIT_SECONDS), "never released"
        except BaseException as exc:
            self.errors.append(exc)
            self.locked.set()
            self.inserted.set()
        finally:
            connection.close()

    def insert(self) -> None:
        self.go.set()
        assert self.inserted.wait(WAIT_SECONDS) and self.errors == []

    def release(self) -> None:
        self.go.set()
        self.released.set()
        self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive() and self.errors == []


@contextmanager
def reply_in_progress(ticket: Ticket, author, kind: str = Message.Kind.CUSTOMER):
    holder = Holder(ticket, author, kind)
    holder.thread.start()
    assert holder.locked.wait(WAIT_SECONDS) and holder.errors == []
    try:
        yield holder
    finally:
        holder.release()


class Other:
    """Another path in its own thread: its result, its database backend's pid."""

    def __init__(self, call):
        self.call = call
        self.pid: queue.Queue[int] = queue.Queue()
        self.result = None
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid.put(cursor.fetchone()[0])
            self.result = self.call()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def waits_on_a_lock(self) -> bool:
        """True once its backend waits for a lock; False if it finished without waiting."""
        pid = self.pid.get(timeout=WAIT_SECONDS)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and self.thread.is_alive():
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
            if row is not None and row[0] == "Lock":
                return True
            time.sleep(0.01)  # polling a live backend, not waiting for a deadline
        return False

    def join(self):
        self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive() and self.errors == []
        return self.result


def stored_after(ticket: Ticket, message_id: int) -> list[int]:
    return list(ticket.messages.filter(pk__gt=message_id).values_list("pk", flat=True))


# --- Paths that wait for the lock -------------------------------------------------------------


def test_the_acknowledgement_waits_for_a_reply_in_progress(people):
    ticket = factories.make_ticket(customer=people["customer"])
    with reply_in_progress(ticket, people["customer"]) as reply:
        ack = Other(
            lambda: acknowledgement.acknowledgement_send(ticket_id=ticket.pk, now=timezone.now())
        )
        assert ack.waits_on_a_lock()
        # The reply stores its message while the acknowledgement waits; neither is committed.
        reply.insert()
        assert stored_after(ticket, ticket.messages.first().pk) == []
    message = ack.join()
    assert message.kind == Message.Kind.SYSTEM
    assert message.pk > reply.message_id


def test_an_agents_reply_waits_for_another_in_progress(people):
    ticket = factories.make_ticket(customer=people["customer"])
    with reply_in_progress(ticket, people["customer"]) as reply:
        answer = Other(
            lambda: ticket_reply(
                ticket_id=ticket.pk,
                author=people["agent"],
                body="On it.",
                channel=Channel.CHAT,
                now=timezone.now(),
            )[0]
        )
        assert answer.waits_on_a_lock()
        reply.insert()
    assert answer.join().pk > reply.message_id


def test_a_resolution_waits_for_a_reply_in_progress(people):
    ticket = factories.make_ticket(customer=people["customer"])
    with reply_in_progress(ticket, people["customer"]) as reply:
        resolve = Other(
            lambda: ticket_resolve(
                ticket_id=ticket.pk, actor=people["agent"], summary="Fixed.", now=timezone.now()
            )
        )
        assert resolve.waits_on_a_lock()
        reply.insert()
    resolve.join()
    assert ticket.messages.get(body="Fixed.").pk > reply.message_id


def test_a_message_posted_without_a_caller_lock_takes_it(people):
    ticket = factories.make_ticket(customer=people["customer"])
    with reply_in_progress(ticket, people["customer"]) as reply:
        post = Other(
            lambda: message_post(
                ticket=ticket,
                author=None,
                kind=Message.Kind.SYSTEM,
                body="Notice.",
                channel=Channel.WEB,
                now=timezone.now(),
            )[0]
        )
        assert post.waits_on_a_lock()
        reply.insert()
    assert post.join().pk > reply.message_id


# --- Sweeps: they skip a ticket in use and post on their next run -----------------------------


def test_the_delay_notice_of_a_late_resolution_waits_for_the_next_sweep(people):
    ticket = factories.make_ticket(customer=people["customer"])
    now = timezone.now()
    Clock.objects.filter(ticket=ticket, metric=Metric.RESOLUTION).update(
        due_at=now - datetime.timedelta(minutes=1)
    )
    resolution = Clock.objects.get(ticket=ticket, metric=Metric.RESOLUTION)
    with reply_in_progress(ticket, people["customer"]) as reply:
        reply.insert()
        sweep = Other(lambda: sla_sweep.breaches_record(now=now))
        assert not sweep.waits_on_a_lock()
        assert resolution.pk not in sweep.join()
    assert not Breach.objects.filter(clock=resolution).exists()

    assert resolution.pk in sla_sweep.breaches_record(now=now)
    notice = ticket.messages.get(kind=Message.Kind.SYSTEM)
    assert notice.pk > reply.message_id


def test_the_chat_fallback_waits_for_the_next_sweep(people, settings):
    settings.CHAT_WAIT_SECONDS = 60
    ticket = factories.make_ticket(customer=people["customer"], channel=Channel.CHAT)
    Chat.objects.create(ticket=ticket, started_at=timezone.now() - datetime.timedelta(minutes=5))
    with reply_in_progress(ticket, people["customer"]) as reply:
        reply.insert()
        sweep = Other(lambda: chats_fall_back(now=timezone.now()))
        assert not sweep.waits_on_a_lock()
        assert sweep.join() == []
    assert chats_fall_back(now=timezone.now()) == [ticket.pk]
    assert ticket.messages.get(kind=Message.Kind.SYSTEM).pk > reply.message_id


def test_the_unread_email_sweep_skips_a_ticket_in_use(people):
    ticket = factories.make_ticket(customer=people["customer"], channel=Channel.CHAT)
    ticket_reply(
        ticket_id=ticket.pk,
        author=people["agent"],
        body="Hello.",
        channel=Channel.CHAT,
        now=timezone.now() - datetime.timedelta(hours=1),
    )
    with reply_in_progress(ticket, people["agent"], Message.Kind.INTERNAL) as note:
        note.insert()
        sweep = Other(lambda: chats_unread_email(now=timezone.now()))
        assert not sweep.waits_on_a_lock()
        assert sweep.join() == []
    assert chats_unread_email(now=timezone.now()) == [ticket.pk]
