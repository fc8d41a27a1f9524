"""Customer A's world for the security suite: one of everything that can carry an id in a URL
(a ticket with files and an internal note, a chat, a consultation, an escalation, an approval,
an incident, an inbound and an outbound email), and the people who look at it."""

import uuid
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework.authtoken.models import Token

from mailin.filing import email_receive
from sla.models import Clock
from sla.services.clocks import breaches_create
from teams.models import Team
from tests import factories
from tests.portal.uploads import upload
from tickets.models import Channel, Ticket
from usecases import escalation as escalation_cases
from usecases import incidents as incident_cases
from usecases import tickets as ticket_cases
from usecases.setup import support_setup

VIEWERS = (
    "customer_a",
    "customer_b",
    "team_agent",
    "other_agent",
    "consulted_agent",
    "manager",
    "anonymous",
)


@dataclass
class World:
    people: dict[str, AbstractBaseUser | None]
    ticket: Ticket
    chat: Ticket
    mailed: Ticket
    # Unique words of A's that nobody who may not see A's tickets may ever read.
    secrets: list[str] = field(default_factory=list)
    objects: dict = field(default_factory=dict)

    @property
    def attachment(self):
        """The file A attached to the first message of their ticket."""
        return self.ticket.messages.order_by("pk").first().attachments.get()


def world_build() -> World:
    now = timezone.now()
    support_setup(now=now)
    teams = {team.slug: team for team in Team.objects.all()}
    mark = uuid.uuid4().hex[:10]
    support_agent = factories.make_agent(teams=(teams["support"],))
    people = {
        "customer_a": factories.make_customer(
            first_name="Alice", last_name=f"Secretname{mark}", company=f"Acme{mark}"
        ),
        "customer_b": factories.make_customer(),
        "team_agent": factories.make_agent(teams=(teams["billing"],)),
        "other_agent": factories.make_agent(
            teams=(next(t for slug, t in teams.items() if slug.startswith("datacenter-")),)
        ),
        "consulted_agent": factories.make_agent(teams=(teams["sysadmin"],)),
        "manager": factories.make_agent(teams=(teams["management"],), manager=True),
        "anonymous": None,
    }
    a = people["customer_a"]
    ticket = factories.make_ticket(
        customer=a,
        subject=f"Subject{mark} of A",
        body=f"Body{mark} of A",
        attachments=[upload(f"file{mark}.png")],
    )
    ticket_cases.ticket_reply(
        ticket_id=ticket.pk,
        author=support_agent,
        body=f"Reply{mark} to A",
        channel=Channel.WEB,
        now=now,
    )
    ticket_cases.ticket_reply(
        ticket_id=ticket.pk,
        author=support_agent,
        body=f"Note{mark} about A",
        channel=Channel.WEB,
        internal=True,
        attachments=[upload(f"note{mark}.txt", b"internal")],
        now=now,
    )
    escalation_cases.ticket_consult(
        ticket_id=ticket.pk, actor=support_agent, team="sysadmin", note="Look at it", now=now
    )
    escalation_cases.ticket_escalate(
        ticket_id=ticket.pk, actor=support_agent, team="billing", reason="Invoice", now=now
    )
    approval = escalation_cases.approval_request(
        ticket_id=ticket.pk,
        actor=people["team_agent"],
        kind="billing_credit",
        reason="Refund",
        amount="10.00",
        currency="EUR",
        now=now,
    )
    chat = factories.make_ticket(
        customer=a, subject=f"Chat{mark} of A", body=f"Line{mark} of A", channel=Channel.CHAT
    )
    escalation_cases.ticket_consult(
        ticket_id=chat.pk, actor=support_agent, team="sysadmin", note="Look at it", now=now
    )
    escalation_cases.ticket_escalate(
        ticket_id=chat.pk, actor=support_agent, team="billing", reason="Invoice", now=now
    )
    incident = incident_cases.incident_open(
        actor=people["manager"], title="Network down", description="Packets lost.", now=now
    )
    incident_cases.tickets_link(
        incident_id=incident.pk, actor=people["manager"], ticket_ids=[ticket.pk], now=now
    )
    raw = (
        f"From: Alice <{a.email}>\r\nTo: support@example.com\r\n"
        f"Subject: Mailed{mark} of A\r\nMessage-ID: <{mark}@example.com>\r\n\r\n"
        f"Mailbody{mark} of A\r\n"
    ).encode()
    outcome = email_receive(raw=raw, now=now, recipients=["support@example.com"])
    mailed = outcome.ticket
    breaches_create(Clock.objects.filter(ticket=ticket)[:1], now=now)
    Token.objects.create(user=a)
    return World(
        people=people,
        ticket=ticket,
        chat=chat,
        mailed=mailed,
        secrets=[mark, ticket.reference, chat.reference, mailed.reference],
        objects={"approval": approval, "incident": incident},
    )
