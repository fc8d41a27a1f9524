"""User content is text, never markup; every page reads in the customer's language."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.portal.uploads import upload
from tickets.models import Channel
from usecases import tickets as use_cases

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def hostile_ticket(customer_a):
    return factories.make_ticket(
        customer=customer_a,
        subject=f"Subject {SCRIPT}",
        body=f"Body {SCRIPT}\n<img src=x onerror=alert(1)>",
        attachments=[upload(f"{SCRIPT}.png")],
    )


@pytest.mark.parametrize("page", ["list", "detail"])
def test_scripts_in_subject_body_and_file_names_are_inert(client_a, hostile_ticket, page):
    url = {
        "list": reverse("tickets:list"),
        "detail": reverse("tickets:detail", kwargs={"ticket_id": hostile_ticket.pk}),
    }[page]

    html = client_a.get(url).content.decode()

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "Subject &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    if page == "detail":
        assert "Body &lt;script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_agents_reply_is_escaped_too(client_a, hostile_ticket, agent):
    use_cases.ticket_reply(
        ticket_id=hostile_ticket.pk,
        author=agent,
        body=f'<a href="javascript:alert(1)">click</a>{SCRIPT}',
        channel=Channel.WEB,
        now=timezone.now(),
    )

    html = client_a.get(reverse("tickets:detail", kwargs={"ticket_id": hostile_ticket.pk}))

    assert b'<a href="javascript' not in html.content
    assert b"<script>alert" not in html.content


def test_a_script_in_the_form_is_echoed_inert(client_a):
    response = client_a.post(
        reverse("tickets:new"), {"subject": SCRIPT, "description": "", "category": "vps"}
    )

    assert response.status_code == 200
    assert "<script>alert" not in response.content.decode()


def test_the_portal_speaks_italian_to_an_italian_customer(client, structure):
    customer = factories.make_customer(language="it")
    ticket = factories.make_ticket(customer=customer)
    client.force_login(customer)

    listing = client.get(reverse("tickets:list")).content.decode()
    page = client.get(reverse("tickets:detail", kwargs={"ticket_id": ticket.pk})).content.decode()
    form = client.get(reverse("tickets:new")).content.decode()

    assert '<html lang="it">' in listing
    assert "I miei ticket" in listing
    assert "Risposta automatica" in listing
    assert "Conversazione" in page
    assert "Rispondi" in page
    assert "Apri un ticket" in form
    assert "Server e rete" in form
    assert "entro 10 minuti" in form


def test_the_portal_speaks_english_by_default(client_a):
    html = client_a.get(reverse("tickets:list")).content.decode()

    assert '<html lang="en">' in html
    assert "My tickets" in html
