"""The rest of the admin: read-only messages, events, outbox, clocks and breaches; the
customer profile on the user page."""

import datetime

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from desk.admin.people import CustomerProfileInline
from sla.models import Breach, Clock
from sla.services.sweep import breaches_record
from tests.desk.conftest import T0, login
from tests.factories import make_agent, make_ticket
from tickets.models import Channel, Event, Message, OutboundEmail, Ticket
from usecases.tickets import ticket_reply

pytestmark = pytest.mark.django_db
User = get_user_model()


def admin_for(model):
    return admin.site._registry[model]


def request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.parametrize("model", [Message, Event, OutboundEmail, Clock, Breach])
def test_history_is_read_only_for_everyone(model, agent):
    superuser = make_agent(superuser=True)
    model_admin = admin_for(model)
    for user in (agent, superuser):
        request = request_as(user)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_rows_of_tickets_the_agent_may_not_see_are_hidden(client, clock, agent, billing_agent):
    ticket = make_ticket()
    ticket_reply(
        ticket_id=ticket.pk,
        author=agent,
        body="note",
        channel=Channel.WEB,
        now=T0,
        internal=False,
    )
    clock.shift(datetime.timedelta(minutes=3))
    breaches_record(now=T0 + datetime.timedelta(minutes=3))

    for model in (Message, Event, Clock, Breach):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        login(client, agent)
        seen = client.get(url)
        assert seen.status_code == 200, model
        assert seen.context["cl"].result_count > 0, model
        login(client, billing_agent)
        hidden = client.get(url)
        assert hidden.status_code == 200, model
        assert hidden.context["cl"].result_count == 0, model
    event = Event.objects.filter(ticket=ticket).first()
    login(client, agent)
    assert client.get(reverse("admin:tickets_event_change", args=[event.pk])).status_code == 200
    response = client.post(reverse("admin:tickets_event_change", args=[event.pk]), {})
    assert response.status_code == 403
    assert client.get(reverse("admin:tickets_event_add")).status_code == 403
    assert client.get(reverse("admin:tickets_event_delete", args=[event.pk])).status_code == 403


def test_outbox_is_for_managers(client, clock, agent, manager):
    ticket = make_ticket()
    ticket_reply(ticket_id=ticket.pk, author=agent, body="Hi", channel=Channel.WEB, now=T0)
    url = reverse("admin:tickets_outboundemail_changelist")

    login(client, agent)
    assert client.get(url).status_code == 403
    assert "outboundemail" not in client.get(reverse("admin:index")).content.decode()

    login(client, manager)
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == OutboundEmail.objects.count() == 1
    email = OutboundEmail.objects.get()
    page = client.get(reverse("admin:tickets_outboundemail_change", args=[email.pk]))
    assert page.status_code == 200
    assert "<textarea" not in page.content.decode()


def test_agents_see_their_desk_on_the_admin_index(client, agent):
    login(client, agent)

    html = client.get(reverse("admin:index")).content.decode()

    assert reverse("admin:tickets_ticket_changelist") in html
    assert reverse("admin:tickets_message_changelist") in html
    assert reverse("admin:sla_clock_changelist") in html
    assert reverse("admin:auth_user_changelist") not in html
    assert "/admin/tickets/ticket/add/" not in html


def test_user_page_carries_the_customer_profile(client, customer):
    superuser = make_agent(superuser=True)
    login(client, superuser)

    response = client.get(reverse("admin:auth_user_change", args=[customer.pk]))

    assert response.status_code == 200
    assert any(
        isinstance(formset.opts, CustomerProfileInline)
        for formset in response.context["inline_admin_formsets"]
    )
    assert 'name="customer_profile-0-language"' in response.content.decode()


def test_tickets_cannot_be_added_or_deleted_here(client, agent):
    login(client, agent)

    assert client.get(reverse("admin:tickets_ticket_add")).status_code == 403
    assert Ticket.objects.count() == 0
