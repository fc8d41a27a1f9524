"""Who reaches which page: anonymous visitors log in first, a customer sees only their own
tickets (404 for anyone else's, so ids cannot be probed), agents see their teams' tickets."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.portal.uploads import upload
from tickets.models import Channel, Status, Ticket
from usecases import tickets as use_cases


@pytest.fixture
def ticket_a(customer_a):
    return factories.make_ticket(customer=customer_a, attachments=[upload()])


def pages(ticket: Ticket) -> dict[str, str]:
    attachment = ticket.messages.get().attachments.get()
    return {
        "list": reverse("tickets:list"),
        "new": reverse("tickets:new"),
        "detail": reverse("tickets:detail", kwargs={"ticket_id": ticket.pk}),
        "attachment": reverse(
            "tickets:attachment", kwargs={"ticket_id": ticket.pk, "attachment_id": attachment.pk}
        ),
    }


def test_the_routes_are_the_public_contract():
    assert reverse("tickets:list") == "/tickets/"
    assert reverse("tickets:new") == "/tickets/new/"
    assert reverse("tickets:detail", kwargs={"ticket_id": 7}) == "/tickets/7/"
    assert (
        reverse("tickets:attachment", kwargs={"ticket_id": 7, "attachment_id": 3})
        == "/tickets/7/attachments/3/"
    )
    assert reverse("home") == "/"


@pytest.mark.parametrize("page", ["list", "new", "detail", "attachment"])
def test_anonymous_visitors_are_sent_to_log_in(client, ticket_a, page):
    url = pages(ticket_a)[page]

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_anonymous_posts_change_nothing(client, ticket_a):
    detail = reverse("tickets:detail", kwargs={"ticket_id": ticket_a.pk})

    reply = client.post(detail, {"body": "hello"})
    confirm = client.post(reverse("tickets:confirm", kwargs={"ticket_id": ticket_a.pk}))

    assert reply.status_code == confirm.status_code == 302
    assert ticket_a.messages.count() == 1


@pytest.mark.parametrize("page", ["list", "new", "detail", "attachment"])
def test_the_customer_reaches_every_page_of_their_ticket(client_a, ticket_a, page):
    response = client_a.get(pages(ticket_a)[page])

    assert response.status_code == 200


@pytest.mark.parametrize("page", ["detail", "attachment"])
def test_another_customer_gets_404_for_the_ticket_and_its_files(client, customer_b, ticket_a, page):
    client.force_login(customer_b)

    response = client.get(pages(ticket_a)[page])

    assert response.status_code == 404


def test_another_customer_cannot_reply_to_or_confirm_the_ticket(client, customer_b, ticket_a):
    use_cases.ticket_resolve(
        ticket_id=ticket_a.pk,
        actor=factories.make_agent(superuser=True),
        summary="Fixed.",
        now=timezone.now(),
    )
    client.force_login(customer_b)

    reply = client.post(
        reverse("tickets:detail", kwargs={"ticket_id": ticket_a.pk}), {"body": "mine now"}
    )
    confirm = client.post(reverse("tickets:confirm", kwargs={"ticket_id": ticket_a.pk}))

    assert reply.status_code == confirm.status_code == 404
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.RESOLVED
    assert not ticket_a.messages.filter(body="mine now").exists()


def test_another_customer_does_not_see_the_ticket_in_their_list(client, customer_b, ticket_a):
    client.force_login(customer_b)

    response = client.get(reverse("tickets:list"))

    assert response.status_code == 200
    assert ticket_a.reference not in response.content.decode()


def test_unknown_ids_answer_404(client_a, ticket_a):
    attachment_id = ticket_a.messages.get().attachments.get().pk

    assert client_a.get("/tickets/999999/").status_code == 404
    assert client_a.get(f"/tickets/{ticket_a.pk}/attachments/999999/").status_code == 404
    assert client_a.get(f"/tickets/999999/attachments/{attachment_id}/").status_code == 404


@pytest.mark.parametrize("huge", ["9" * 19, "9" * 30])
def test_ids_beyond_any_row_answer_404_not_an_overflow(client_a, ticket_a, huge):
    attachment_id = ticket_a.messages.get().attachments.get().pk

    assert client_a.get(f"/tickets/{huge}/").status_code == 404
    assert client_a.post(f"/tickets/{huge}/", {"body": "x"}).status_code == 404
    assert client_a.post(f"/tickets/{huge}/confirm/").status_code == 404
    assert client_a.get(f"/tickets/{huge}/attachments/{attachment_id}/").status_code == 404
    assert client_a.get(f"/tickets/{ticket_a.pk}/attachments/{huge}/").status_code == 404
    assert client_a.get("/tickets/", {"page": huge}).status_code == 200


def test_an_attachment_is_reached_only_through_its_own_ticket(client_a, customer_a, ticket_a):
    other = factories.make_ticket(customer=customer_a)
    attachment_id = ticket_a.messages.get().attachments.get().pk

    response = client_a.get(f"/tickets/{other.pk}/attachments/{attachment_id}/")

    assert response.status_code == 404


@pytest.mark.parametrize("page", ["list", "detail", "attachment"])
def test_an_agent_of_the_ticket_team_reaches_it(client, agent, ticket_a, page):
    client.force_login(agent)

    response = client.get(pages(ticket_a)[page])

    assert response.status_code == 200


def test_an_agent_of_another_team_gets_404(client, structure, ticket_a):
    billing = factories.make_agent(teams=(structure["billing"],))
    client.force_login(billing)

    assert client.get(pages(ticket_a)["detail"]).status_code == 404
    assert client.get(pages(ticket_a)["attachment"]).status_code == 404
    assert ticket_a.reference not in client.get(reverse("tickets:list")).content.decode()


def test_the_new_ticket_form_is_for_customers(client, agent):
    client.force_login(agent)

    get = client.get(reverse("tickets:new"))
    post = client.post(
        reverse("tickets:new"),
        {"subject": "x", "description": "y", "category": "other", "priority": "normal"},
    )

    assert get.status_code == post.status_code == 403
    assert "This form is for customers" in get.content.decode()
    assert not Ticket.objects.exists()


def test_an_internal_note_file_is_for_staff_only(client, customer_a, agent, ticket_a):
    note, _new = use_cases.ticket_reply(
        ticket_id=ticket_a.pk,
        author=agent,
        body="Customer's disk log, for the data center.",
        channel=Channel.WEB,
        internal=True,
        attachments=[upload("smart.log", b"SMART error")],
        now=timezone.now(),
    )
    url = reverse(
        "tickets:attachment",
        kwargs={"ticket_id": ticket_a.pk, "attachment_id": note.attachments.get().pk},
    )

    client.force_login(customer_a)
    as_customer = client.get(url)
    client.force_login(agent)
    as_agent = client.get(url)

    assert as_customer.status_code == 404
    assert as_agent.status_code == 200
    assert b"".join(as_agent.streaming_content) == b"SMART error"
