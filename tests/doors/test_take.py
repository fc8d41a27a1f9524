"""Two agents taking the same chat: only one hears "it is yours"; the other learns who holds
it (409, code "taken"), from the console (JSON or a plain form), the queue's Take action or the
use case, and even when both click at the same instant."""

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict
from tests.factories import make_agent, make_ticket
from tickets.models import Channel, Event
from usecases.tickets import ticket_take

pytestmark = pytest.mark.django_db


@pytest.fixture
def giulia(structure):
    return make_agent(username="giulia", teams=(structure["support"],))


@pytest.fixture
def tom(structure):
    tom = make_agent(username="tom", teams=(structure["support"],))
    tom.first_name, tom.last_name = "Tom", "Baker"
    tom.save(update_fields=["first_name", "last_name"])
    return tom


@pytest.fixture
def chat(customer_a):
    return make_ticket(customer=customer_a, subject="Live chat", channel=Channel.CHAT)


def take_url(ticket) -> str:
    return reverse("chat_console:take", kwargs={"ticket_id": ticket.pk})


def taken_by(ticket, user) -> None:
    assert desk(user).post(take_url(ticket), HTTP_ACCEPT="application/json").status_code == 200


def desk(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_chat_someone_holds_is_not_taken_from_the_console(chat, giulia, tom):
    taken_by(chat, tom)

    response = desk(giulia).post(take_url(chat), HTTP_ACCEPT="application/json")

    assert response.status_code == 409
    assert response.json() == {"detail": "Already taken by Tom Baker.", "code": "taken"}
    chat.refresh_from_db()
    assert chat.assignee == tom
    assert Event.objects.filter(ticket=chat, action="assigned").count() == 1


def test_the_plain_form_says_who_holds_it(chat, giulia, tom):
    taken_by(chat, tom)

    response = desk(giulia).post(take_url(chat))

    assert response.status_code == 302 and response.url == reverse("chat_console:console")
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Already taken by Tom Baker."]
    chat.refresh_from_db()
    assert chat.assignee == tom


def test_the_queues_take_action_says_who_holds_it(chat, giulia, tom):
    taken_by(chat, tom)
    free = make_ticket(customer=chat.customer)

    response = desk(giulia).post(
        reverse("admin:tickets_ticket_changelist") + "?queue=all",
        {"action": "take", "_selected_action": [chat.pk, free.pk]},
    )

    assert sorted((m.level_tag, str(m)) for m in get_messages(response.wsgi_request)) == sorted(
        [
            ("error", f"{chat.reference}: Already taken by Tom Baker."),
            ("success", f"{free.reference}: assigned to you."),
        ]
    )
    chat.refresh_from_db()
    free.refresh_from_db()
    assert (chat.assignee, free.assignee) == (tom, giulia)


def test_taking_your_own_chat_again_is_fine(chat, tom):
    ticket_take(ticket_id=chat.pk, actor=tom, now=timezone.now())

    again = ticket_take(ticket_id=chat.pk, actor=tom, now=timezone.now())

    assert again.assignee == tom
    assert Event.objects.filter(ticket=chat, action="assigned").count() == 1


def test_the_use_case_refuses_with_409(chat, giulia, tom):
    ticket_take(ticket_id=chat.pk, actor=tom, now=timezone.now())

    with pytest.raises(Conflict) as refused:
        ticket_take(ticket_id=chat.pk, actor=giulia, now=timezone.now())

    assert refused.value.status == 409 and refused.value.code == "taken"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_taking_one_chat_at_once_one_wins(chat, giulia, tom):
    clients = {giulia.username: desk(giulia), tom.username: desk(tom)}
    start = threading.Barrier(len(clients))
    answers, failures = {}, []

    def take(name):
        try:
            start.wait(timeout=10)
            answers[name] = clients[name].post(take_url(chat), HTTP_ACCEPT="application/json")
        except Exception as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(name,)) for name in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert sorted(answer.status_code for answer in answers.values()) == [200, 409]
    winner = next(name for name, answer in answers.items() if answer.status_code == 200)
    loser = next(answer for answer in answers.values() if answer.status_code == 409)
    chat.refresh_from_db()
    assert chat.assignee.username == winner
    assert loser.json()["code"] == "taken"
    assert Event.objects.filter(ticket=chat, action="assigned").count() == 1
