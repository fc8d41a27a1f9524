"""Live access follows revocation (issue: "Revocation does not reach an open socket"). A socket
is held open while its person is deactivated in the admin, demoted, or removed from the team;
it is closed within seconds, and every frame they send is checked against their access now."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.forms import MultiWidget
from django.http import Http404
from django.test import Client
from django.utils import timezone

from accounts.roles import MANAGERS_GROUP
from teams.services import staff_upsert
from tests import factories
from tests.chat.conftest import joined, until_presence
from tickets.models import Channel, Message
from tickets.selectors import access_ticket
from usecases.tickets import ticket_reply

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

User = get_user_model()
db = database_sync_to_async


def run(scenario):
    async_to_sync(scenario)()


def admin_saves_user(user, **changes) -> None:
    """A superuser opens the user's page in the admin, changes `changes` and saves it, as a
    browser would post the form."""
    root = factories.make_agent(username="root", superuser=True)
    client = Client()
    client.force_login(root)
    url = f"/admin/auth/user/{user.pk}/change/"
    page = client.get(url)
    data = {"_save": "Save"}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(
            {f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()}
        )
        forms += formset.forms
    for form in forms:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if field.disabled or value in (None, False):
                continue
            if isinstance(field.widget, MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{index}"] = "" if part is None else str(part)
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            else:
                data[key] = "on" if value is True else str(value)
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert all(getattr(user, name) == value for name, value in changes.items())


def note(ticket, author, body):
    ticket_reply(
        ticket_id=ticket.pk,
        author=author,
        body=body,
        channel=Channel.CHAT,
        now=timezone.now(),
        internal=True,
    )


@pytest.fixture
def colleague(structure):
    return factories.make_agent(username="carla", teams=(structure["support"],))


def test_an_agent_deactivated_in_the_admin_is_closed_out_and_hears_no_more_notes(
    chat_a, agent, colleague
):
    async def scenario():
        socket = await joined(chat_a.pk, agent)
        await until_presence(socket)
        await db(admin_saves_user)(agent, is_active=False)
        assert await socket.close_code() == 4403
        await db(note)(chat_a, colleague, "Root password of the customer's server: hunter2")

    run(scenario)


def test_an_agent_removed_from_the_team_is_closed_out(chat_a, agent, structure):
    async def scenario():
        socket = await joined(chat_a.pk, agent)
        await until_presence(socket)
        await db(staff_upsert)(username=agent.username, password=None, teams=["billing"])
        assert await socket.close_code() == 4403

    run(scenario)


def test_a_demoted_manager_is_closed_out_of_another_teams_ticket(chat_a, manager):
    async def scenario():
        socket = await joined(chat_a.pk, manager)
        await until_presence(socket)
        managers = await db(Group.objects.get)(name=MANAGERS_GROUP)
        await db(manager.groups.remove)(managers)
        assert await socket.close_code() == 4403

    run(scenario)


def test_every_frame_is_checked_against_access_now_even_when_no_one_tells_the_socket(chat_a, agent):
    """Deactivated by a bulk update, which sends no signal: the socket hears nothing, but the
    next message it sends is refused and not stored."""

    async def scenario():
        socket = await joined(chat_a.pk, agent)
        await until_presence(socket)
        await db(User.objects.filter(pk=agent.pk).update)(is_active=False)
        await socket.say("Resetting your password now")
        assert await socket.close_code() == 4403

    run(scenario)
    assert not Message.objects.filter(body="Resetting your password now").exists()


def test_an_inactive_person_sees_no_ticket_anywhere(chat_a, customer_a, agent):
    for person in (customer_a, agent):
        person.is_active = False
        with pytest.raises(Http404):
            access_ticket(person, chat_a.pk)
