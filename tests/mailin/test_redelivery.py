"""An MTA that lost our answer delivers the message again while the first delivery is still
being filed: two threads on PostgreSQL, the second arriving inside the first's transaction."""

import datetime
import threading
import time

import pytest
from django.db import connection, connections

from mailin import filing as email_in
from tests.factories import make_customer
from tests.mailin.mails import mail
from tickets.models import InboundEmail, Message, Ticket

NOW = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("structure"),
]


def lock_waiters() -> int:
    """Backends of this database waiting for a lock (the second delivery on the first's row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_redelivery_racing_the_first_delivery_is_filed_once(monkeypatch):
    make_customer(username="mario")
    raw = mail(sender="mario@example.com")
    inside, go = threading.Event(), threading.Event()
    entered = []
    real_ticket_open = email_in.ticket_open

    def ticket_open_held_open(**kwargs):
        # The first delivery stops inside its transaction until the second one is either
        # waiting on it (a lock) or filing too (no lock at all).
        entered.append(threading.get_ident())
        inside.set()
        go.wait(WAIT_SECONDS)
        return real_ticket_open(**kwargs)

    monkeypatch.setattr(email_in, "ticket_open", ticket_open_held_open)
    outcomes = []

    def deliver():
        try:
            outcomes.append(email_in.email_receive(raw=raw, now=NOW))
        finally:
            connections.close_all()

    first = threading.Thread(target=deliver)
    first.start()
    assert inside.wait(WAIT_SECONDS)
    second = threading.Thread(target=deliver)
    second.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (waiting := lock_waiters()) and len(entered) == 1 and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the second thread to arrive, not waiting out a clock
    filing_alongside = len(entered) > 1
    go.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)

    assert waiting and not filing_alongside
    assert sorted(outcome.result for outcome in outcomes) == [email_in.IGNORED, email_in.OPENED]
    assert next(o for o in outcomes if o.result == email_in.IGNORED).code == "duplicate"
    assert Ticket.objects.count() == 1 and Message.objects.count() == 1
    assert InboundEmail.objects.get().state == "filed"
