"""An incident's public update reaches the customer's open chat socket as the worker posts it."""

import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from tests import factories
from tests.chat.conftest import joined, until_presence
from tests.incidents.conftest import fan_out
from tickets.models import Channel
from usecases import incidents

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BODY = "Power is back on one feed; servers are booting."


def test_the_update_reaches_an_open_chat_socket(chat_a, customer_a, agent):
    now = dt.datetime.now(dt.UTC)
    incident = incidents.incident_open(
        actor=agent, title="Amsterdam", description="Down.", data_center="ams", now=now
    )
    incidents.tickets_link(incident_id=incident.pk, actor=agent, ticket_ids=[chat_a.pk], now=now)

    async def scenario():
        socket = await joined(chat_a.pk, customer_a)
        await until_presence(socket)
        await database_sync_to_async(incidents.incident_update)(
            incident_id=incident.pk, actor=agent, body=BODY, status="identified", now=now
        )
        await database_sync_to_async(fan_out)(now)
        frame = await socket.frame_of("message")
        while BODY not in frame["message"]["body"]:
            frame = await socket.frame_of("message")
        assert frame["message"]["kind"] == "system"
        assert frame["message"]["channel"] == Channel.CHAT
        await socket.close()

    async_to_sync(scenario)()


def test_a_customer_of_another_ticket_hears_nothing(chat_a, customer_b, agent):
    other = factories.make_ticket(customer=customer_b, subject="Mine", channel=Channel.CHAT)
    now = dt.datetime.now(dt.UTC)
    incident = incidents.incident_open(
        actor=agent, title="Amsterdam", description="Down.", data_center="ams", now=now
    )
    incidents.tickets_link(incident_id=incident.pk, actor=agent, ticket_ids=[chat_a.pk], now=now)

    async def scenario():
        socket = await joined(other.pk, customer_b)
        await until_presence(socket)
        await database_sync_to_async(incidents.incident_update)(
            incident_id=incident.pk, actor=agent, body=BODY, status="identified", now=now
        )
        await database_sync_to_async(fan_out)(now)
        assert await socket.nothing("message")
        await socket.close()

    async_to_sync(scenario)()
