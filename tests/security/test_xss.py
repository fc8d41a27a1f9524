"""Hostile text through every way in (a ticket's subject and body, a chat line, a customer's
names and company, a file's name, an email's Subject and From name through mailin's filing, an
incident's title, description and update) rendered inert on every page that shows it (the
portal's list and thread, the desk's queue and ticket page, the chat console, the status page
and its feed, the incident and mail records) and in every email of the outbox (no markup made,
no header added).

"Inert" in a page: no element or attribute the text made (every payload carries an attribute
named `data-xssmark` that only markup it made could have), no script the policy would block
(inline code, `on*` attributes, `javascript:` links: tests/doors/test_csp.py's parser), no
`data:` link, and no Unicode bidi control that could turn the rest of a line around."""

import re
from email import message_from_bytes
from email.header import Header
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from core.text import bidi_controls_removed
from mailin.filing import email_receive
from teams.models import Team
from tests import factories
from tests.doors.test_csp import blocked_scripts
from tests.portal.uploads import upload
from tickets.models import Channel, InboundEmail, Message, OutboundEmail
from tickets.notifications import email_deliver
from usecases import escalation as escalation_cases
from usecases import incidents as incident_cases
from usecases import tickets as ticket_cases
from usecases.acknowledgement import ticket_acknowledge
from usecases.setup import support_setup

pytestmark = [pytest.mark.security, pytest.mark.django_db]

MARK = "xssmark"
CORPUS = {
    "script": f'<script>alert("{MARK}")</script><script data-{MARK}>1</script>',
    "event handler": f"<img src=x onerror=alert(1) data-{MARK}>",
    "attribute break": f"\"><b data-{MARK} onmouseover='alert(1)'>",
    "single-quote break": f"' autofocus onfocus='alert(1)' data-{MARK}='",
    "javascript link": f'<a href="javascript:alert(1)" data-{MARK}>{MARK}</a> [x](javascript:alert(1))',
    "data link": f'<a href="data:text/html;base64,PHNjcmlwdD4=" data-{MARK}>{MARK}</a>',
    "svg": f"<svg onload=alert(1) data-{MARK}><script>alert(1)</script></svg>",
    "markdown": f'![{MARK}](x" onerror="alert(1)) <http://x.example/"onclick="alert(1)>',
    "rtl override": f"invoice \u202egnp.exe {MARK}",
    "isolate": f"\u2067{MARK}\u2069 and \u202bembedded\u202c",
    "header injection": f"{MARK}\r\nBcc: victim@example.com\r\nX-Injected: yes",
}
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
INJECTED_HEADERS = ("bcc", "x-injected")


class Markup(HTMLParser):
    """Elements and links in a page that hostile text could have made."""

    def __init__(self):
        super().__init__()
        self.made: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if MARK in name:
                self.made.append(f"<{tag} {name}>")
            if name in {"href", "src", "action", "formaction"} and (
                (value or "").strip().lower().startswith("data:") and tag != "img"
            ):
                self.made.append(f"<{tag} {name}=data:...>")

    def handle_data(self, data):
        self.text.append(data)


def problems_in(html: str) -> tuple[list[str], str]:
    """What hostile text made in `html`, and the page's text."""
    parser = Markup()
    parser.feed(html)
    made = parser.made + blocked_scripts(html)
    text = "".join(parser.text)
    if BIDI_CONTROLS.search(text) or BIDI_CONTROLS.search(html):
        made.append("a bidi control character")
    return made, text


def raw_email(*, address: str, name: str, subject: str, body: str, n: int) -> bytes:
    """An email whose Subject and From name are encoded words: the classic way to smuggle a
    line break into a header that a parser decodes."""
    return (
        f"From: {Header(name, 'utf-8').encode()} <{address}>\r\n"
        "To: support@example.com\r\n"
        f"Subject: {Header(subject, 'utf-8').encode()}\r\n"
        f"Message-ID: <xss-{n}@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture
def hostile():
    """Everything the corpus can reach, each payload through every way in."""
    now = timezone.now()
    support_setup(now=now)
    support = Team.objects.get(slug="support")
    agent = factories.make_agent(teams=(support,))
    manager = factories.make_agent(teams=(Team.objects.get(slug="management"),), manager=True)
    seen = {"customers": [], "tickets": [], "chats": [], "incidents": []}
    for n, payload in enumerate(CORPUS.values()):
        customer = factories.make_customer(
            first_name=payload[:150], last_name=payload[:150], company=payload
        )
        ticket = factories.make_ticket(
            customer=customer,
            subject=payload,
            body=payload,
            attachments=[upload(f"{payload}.png")],
        )
        ticket_acknowledge(ticket_id=ticket.pk, now=now)
        ticket_cases.ticket_reply(
            ticket_id=ticket.pk, author=agent, body=payload, channel=Channel.WEB, now=now
        )
        escalation_cases.ticket_escalate(
            ticket_id=ticket.pk, actor=agent, team="billing", reason=payload, now=now
        )
        chat = factories.make_ticket(
            customer=customer, subject=payload, body=payload, channel=Channel.CHAT
        )
        ticket_cases.ticket_reply(
            ticket_id=chat.pk, author=customer, body=payload, channel=Channel.CHAT, now=now
        )
        incident = incident_cases.incident_open(
            actor=manager, title=payload[:200], description=payload, now=now
        )
        incident_cases.incident_update(
            incident_id=incident.pk, actor=manager, body=payload, now=now
        )
        email_receive(
            raw=raw_email(
                address=f"mailer{n}@example.com", name=payload, subject=payload, body=payload, n=n
            ),
            now=now,
            recipients=["support@example.com"],
        )
        seen["customers"].append(customer)
        seen["tickets"].append(ticket)
        seen["chats"].append(chat)
        seen["incidents"].append(incident)
    seen["mailed"] = [
        row.ticket for row in InboundEmail.objects.select_related("ticket") if row.ticket
    ]
    seen["manager"] = manager
    return seen


def pages_of(hostile) -> list[tuple[object, str]]:
    """(who, path) of every page that shows the corpus."""
    manager = hostile["manager"]
    pages = [(None, "/status/"), (None, "/status/feed/")]
    pages += [(None, f"/status/incidents/{i.pk}/") for i in hostile["incidents"]]
    for customer, ticket, chat in zip(
        hostile["customers"], hostile["tickets"], hostile["chats"], strict=True
    ):
        pages += [
            (customer, "/tickets/"),
            (customer, f"/tickets/{ticket.pk}/"),
            (customer, f"/tickets/{chat.pk}/"),
            (customer, "/accounts/profile/"),
            (manager, f"/admin/tickets/ticket/{ticket.pk}/change/"),
            (manager, f"/admin/chat/{chat.pk}/"),
        ]
    pages += [(ticket.customer, f"/tickets/{ticket.pk}/") for ticket in hostile["mailed"]]
    pages += [(manager, f"/admin/tickets/ticket/{t.pk}/change/") for t in hostile["mailed"]]
    pages += [(manager, f"/admin/incidents/incident/{i.pk}/change/") for i in hostile["incidents"]]
    pages += [
        (manager, path)
        for path in (
            "/admin/tickets/ticket/",
            "/admin/tickets/ticket/?q=xssmark",
            "/admin/chat/",
            "/admin/chat/queue/",
            "/admin/incidents/incident/",
            "/admin/tickets/message/",
            "/admin/tickets/inboundemail/",
            "/admin/tickets/outboundemail/",
            "/admin/escalation/escalation/",
            "/dashboard/sla/",
        )
    ]
    pages += [
        (manager, f"/admin/tickets/inboundemail/{row.pk}/change/")
        for row in InboundEmail.objects.all()
    ]
    pages += [
        (manager, f"/admin/tickets/outboundemail/{row.pk}/change/")
        for row in OutboundEmail.objects.filter(ticket__in=hostile["tickets"])[:5]
    ]
    pages += [
        (manager, f"/admin/tickets/message/{row.pk}/change/")
        for row in Message.objects.filter(ticket__in=hostile["chats"])[:5]
    ]
    return pages


def test_the_corpus_is_inert_on_every_page(hostile):
    clients: dict = {}
    found, shown = [], 0
    for who, path in pages_of(hostile):
        key = who.pk if who is not None else None
        if key not in clients:
            clients[key] = Client()
            if who is not None:
                clients[key].force_login(who)
        response = clients[key].get(path)
        assert response.status_code == 200, (path, response.status_code)
        made, text = problems_in(response.content.decode())
        found += [f"{path}: {problem}" for problem in made]
        shown += MARK in text
    assert found == [], "\n".join(found)
    # The pages did show the hostile text, as text.
    assert shown > len(CORPUS) * 5


def test_the_corpus_is_inert_in_every_email(hostile):
    outbox = list(OutboundEmail.objects.order_by("pk"))
    assert len(outbox) > len(CORPUS) * 2
    found = []
    for email in outbox:
        if BIDI_CONTROLS.search(email.subject) or "\r" in email.subject or "\n" in email.subject:
            found.append(f"outbox {email.pk} ({email.purpose}): subject {email.subject!r}")
        if email.body_html:
            made, _text = problems_in(email.body_html)
            found += [f"outbox {email.pk} ({email.purpose}) html: {p}" for p in made]
        if BIDI_CONTROLS.search(email.body_text):
            found.append(f"outbox {email.pk} ({email.purpose}) text: a bidi control character")
    mail.outbox.clear()
    sent = [email_deliver(outbound_id=email.pk, now=timezone.now()) for email in outbox]
    assert all(sent), [e.last_error for e in OutboundEmail.objects.exclude(state="sent")]
    for message in mail.outbox:
        parsed = message_from_bytes(message.message().as_bytes())
        for header in INJECTED_HEADERS:
            if parsed[header] is not None:
                found.append(f"email {message.subject!r}: a {header} header")
    assert found == [], "\n".join(found)


def test_right_to_left_text_keeps_its_letters_and_marks():
    """Only the controls that reorder what follows go; Hebrew, Arabic and the RLM/LRM marks
    that right-to-left writers use stay."""
    assert bidi_controls_removed("שלום \u200f مرحبا \u200e \u202eexe.pdf\u2069") == (
        "שלום \u200f مرحبا \u200e exe.pdf"
    )
