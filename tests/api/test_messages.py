"""The thread through the API: reading, replying, internal notes, files, resends."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla.services import acknowledgement
from tests import factories
from tests.portal.uploads import PNG, upload
from tickets.models import Message, Status
from usecases import tickets as use_cases

T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


def url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/messages/"


def test_the_thread_in_order_with_authors_and_system_messages(api, agent, manager, customer_a):
    with time_machine.travel(T0, tick=False) as clock:
        ticket = factories.make_ticket(customer=customer_a, body="It is down.")
        clock.shift(30)
        acknowledgement.acknowledgement_send(ticket_id=ticket.pk, now=timezone.now())
        clock.shift(30)
        use_cases.ticket_reply(
            ticket_id=ticket.pk, author=agent, body="On it.", channel="web", now=timezone.now()
        )
        clock.shift(30)
        use_cases.ticket_reply(
            ticket_id=ticket.pk,
            author=manager,
            body="Escalate if needed.",
            channel="web",
            now=timezone.now(),
            internal=True,
        )

    response = api(agent).get(url(ticket))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    customer, system, reply, note = body["results"]
    assert customer == {
        "id": customer["id"],
        "ticket": ticket.pk,
        "author": {"id": customer_a.pk, "name": "Alice Rossi", "role": "customer"},
        "kind": "customer",
        "channel": "web",
        "body": "It is down.",
        "created_at": "2026-03-02T10:00:00Z",
        "attachments": [],
    }
    assert (system["author"], system["kind"]) == (None, "system")
    assert reply["author"] == {"id": agent.pk, "name": "giulia", "role": "agent"}
    assert (note["kind"], note["author"]["role"]) == ("internal", "manager")


def test_a_customer_replies(api, customer_a, ticket_a):
    response = api(customer_a).post(url(ticket_a), {"body": "  Still down.  "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["channel"], body["body"]) == ("customer", "api", "Still down.")
    assert body["author"]["role"] == "customer"


def test_a_customers_internal_flag_is_ignored(api, customer_a, ticket_a):
    body = (
        api(customer_a)
        .post(url(ticket_a), {"body": "psst", "internal": True}, format="json")
        .json()
    )
    assert body["kind"] == "customer"
    assert Message.objects.get(pk=body["id"]).kind == Message.Kind.CUSTOMER


def test_an_agent_writes_a_reply_or_an_internal_note(api, agent, ticket_a):
    reply = api(agent).post(url(ticket_a), {"body": "Rebooting now."}, format="json").json()
    note = (
        api(agent)
        .post(url(ticket_a), {"body": "Disk is dying.", "internal": True}, format="json")
        .json()
    )

    assert (reply["kind"], note["kind"]) == ("agent", "internal")
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_a_script_comes_back_as_json_data(api, customer_a, ticket_a):
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    posted = api(customer_a).post(url(ticket_a), {"body": script}, format="json")
    listed = api(customer_a).get(url(ticket_a))

    for response in (posted, listed):
        assert response["Content-Type"] == "application/json"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert posted.json()["body"] == script
    assert listed.json()["results"][-1]["body"] == script
    assert b"<script>" in posted.content  # data, verbatim: JSON is not HTML and is not escaped


def test_a_resend_with_the_same_client_id_is_stored_once(api, customer_a, ticket_a):
    payload = {"body": "Any news?", "client_id": "6f1c2a9e"}
    first = api(customer_a).post(url(ticket_a), payload, format="json")
    again = api(customer_a).post(url(ticket_a), payload, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert ticket_a.messages.filter(client_id="6f1c2a9e").count() == 1


def test_a_reply_reopens_a_resolved_ticket(api, agent, customer_a, ticket_a):
    use_cases.ticket_resolve(
        ticket_id=ticket_a.pk, actor=agent, summary="Fixed.", now=timezone.now()
    )

    assert (
        api(customer_a).post(url(ticket_a), {"body": "Not fixed."}, format="json").status_code
        == 201
    )
    ticket_a.refresh_from_db()
    assert ticket_a.status == Status.OPEN


def test_a_closed_ticket_takes_no_reply(api, agent, customer_a, ticket_a, rows):
    use_cases.ticket_resolve(
        ticket_id=ticket_a.pk, actor=agent, summary="Fixed.", now=timezone.now()
    )
    use_cases.ticket_confirm(ticket_id=ticket_a.pk, customer=customer_a, now=timezone.now())
    before = rows()

    response = api(customer_a).post(url(ticket_a), {"body": "One more thing"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ticket_closed"
    assert ticket_a.reference in response.json()["detail"]
    assert rows() == before


def test_files_in_multipart_and_their_download(api, customer_a, agent, ticket_a):
    response = api(customer_a).post(
        url(ticket_a),
        {
            "body": "Logs attached",
            "attachments": [upload("screen.png"), upload("boot.log", b"panic")],
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    files = {f["filename"]: f for f in response.json()["attachments"]}
    assert set(files) == {"screen.png", "boot.log"}
    png = files["screen.png"]
    assert (png["size"], png["content_type"]) == (len(PNG), "image/png")
    assert png["url"] == f"http://testserver/api/v1/attachments/{png['id']}/"

    download = api(agent).get(png["url"], HTTP_ACCEPT="image/png")
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == 'attachment; filename="screen.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == PNG


def test_a_file_that_a_browser_could_run_downloads_as_bytes(api, customer_a, ticket_a):
    response = api(customer_a).post(
        url(ticket_a),
        {"body": "config", "attachments": [upload("page.xml", b"<html><script>alert(1)</script>")]},
        format="multipart",
    )
    attachment = response.json()["attachments"][0]

    download = api(customer_a).get(attachment["url"])

    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")


def test_an_unknown_attachment_is_404_json(api, customer_a, db):
    response = api(customer_a).get("/api/v1/attachments/424242/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_page_of_messages_costs_the_same_queries_for_5_or_50(
    api, agent, manager, customer_a, ticket_a, django_assert_num_queries
):
    authors = [agent, manager, customer_a, factories.make_agent(teams=(ticket_a.team,))]

    def write(n: int):
        for i in range(n):
            use_cases.ticket_reply(
                ticket_id=ticket_a.pk,
                author=authors[i % len(authors)],
                body=f"message {i}",
                channel="web",
                now=timezone.now(),
                attachments=[upload(f"shot{i}.png")] if i % 2 else [],
            )

    client = api(agent)
    write(4)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(f"{url(ticket_a)}?page_size=100").json()["results"]) == 5
    write(45)
    with django_assert_num_queries(len(few)):
        assert len(client.get(f"{url(ticket_a)}?page_size=100").json()["results"]) == 50


@pytest.mark.parametrize("kind", ["customer", "internal"])
def test_posting_keeps_the_role_of_the_author(api, manager, ticket_a, kind):
    body = (
        api(manager)
        .post(url(ticket_a), {"body": "Hi", "internal": kind == "internal"}, format="json")
        .json()
    )
    assert body["author"]["role"] == "manager"
    assert body["kind"] == ("internal" if kind == "internal" else "agent")
