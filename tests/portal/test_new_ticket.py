"""Opening a ticket from the web form: one path (tickets.services.ticket_open), channel web,
attachments checked before anything is stored, a confirmation that says what happens next."""

import pytest

from tests.portal.uploads import upload
from tickets.attachments import MAX_FILES_PER_MESSAGE
from tickets.models import Attachment, Channel, Message, Ticket

NEW = "/tickets/new/"


def form_data(**overrides) -> dict:
    return {
        "subject": "My VPS is very slow",
        "description": "Since this morning every page takes ten seconds.",
        "category": "vps",
        "data_center": "",
        "priority": "high",
        **overrides,
    }


def stored_files(attachments_dir) -> list:
    return (
        [p for p in attachments_dir.rglob("*") if p.is_file()] if attachments_dir.exists() else []
    )


def test_the_form_explains_each_category_in_groups(client_a):
    html = client_a.get(NEW).content.decode()

    assert html.count('type="radio" name="category"') == 11
    assert "<legend>Servers and network</legend>" in html
    assert "<legend>Account, billing and orders</legend>" in html
    assert "A virtual server is slow, unreachable or behaves strangely." in html
    assert 'aria-describedby="id_category_0_help"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="attachments"' in html and "multiple" in html


def test_the_form_offers_the_sites_of_the_active_data_center_teams(client_a, structure):
    structure["datacenter-mia"].active = False
    structure["datacenter-mia"].save(update_fields=["active"])

    html = client_a.get(NEW).content.decode()

    assert '<option value="ams">' in html
    assert '<option value="mia">' not in html
    assert '<option value="" selected>' in html
    assert "data-server-only" in html
    assert "js/portal.js" in html


def test_the_form_states_the_promises(client_a):
    html = client_a.get(NEW).content.decode()

    assert "within 2 minutes" in html
    assert "within 10 minutes" in html


def test_opening_a_ticket_redirects_to_it_with_what_happens_next(client_a, customer_a):
    response = client_a.post(NEW, form_data(data_center="ams"))

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{ticket.pk}/"
    assert ticket.customer == customer_a
    assert ticket.channel == Channel.WEB
    assert (ticket.subject, ticket.category, ticket.priority, ticket.data_center) == (
        "My VPS is very slow",
        "vps",
        "high",
        "ams",
    )
    first = ticket.messages.get()
    assert (first.kind, first.channel, first.author) == (Message.Kind.CUSTOMER, "web", customer_a)
    assert first.body == "Since this morning every page takes ten seconds."

    page = client_a.get(response["Location"]).content.decode()
    assert f"We have received your request {ticket.reference}" in page
    assert "Within 2 minutes you receive an automatic reply" in page
    assert "Within 10 minutes a person on our support team answers" in page

    again = client_a.get(response["Location"]).content.decode()
    assert "We have received your request" not in again


def test_the_site_is_kept_only_for_server_problems(client_a):
    client_a.post(NEW, form_data(category="billing", data_center="ams"))

    assert Ticket.objects.get().data_center == ""


def test_an_unknown_site_is_a_form_error(client_a):
    response = client_a.post(NEW, form_data(data_center="nowhere"))

    assert response.status_code == 200
    assert not Ticket.objects.exists()
    assert 'id="id_data_center"' in response.content.decode()
    assert response.context["form"].errors["data_center"]


def test_attachments_are_stored_with_the_first_message(client_a, attachments_dir):
    client_a.post(
        NEW,
        form_data(attachments=[upload("top.png"), upload("dmesg.log", b"kernel: oops")]),
    )

    message = Ticket.objects.get().messages.get()
    names = sorted(message.attachments.values_list("filename", flat=True))
    assert names == ["dmesg.log", "top.png"]
    assert len(stored_files(attachments_dir)) == 2


def test_a_file_name_is_sanitised(client_a):
    client_a.post(NEW, form_data(attachments=[upload("..\\..\\etc/pass wd<x>.txt", b"x")]))

    attachment = Attachment.objects.get()
    assert attachment.filename == "pass wd_x_.txt"
    assert "/" not in attachment.file.name.removeprefix(f"tickets/{attachment.message.ticket_id}/")


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ([upload("setup.exe", b"MZ")], "setup.exe: this type of file cannot be attached."),
        ([upload("huge.png", b"x" * 2048)], "huge.png is larger than"),
        (
            [upload(f"f{i}.png") for i in range(MAX_FILES_PER_MESSAGE + 1)],
            f"At most {MAX_FILES_PER_MESSAGE} files per message.",
        ),
        ([upload("ok.png"), upload("bad.html", b"<p>")], "bad.html: this type of file"),
    ],
)
def test_a_refused_file_is_shown_on_the_form_and_nothing_is_stored(
    settings, client_a, attachments_dir, files, error
):
    settings.ATTACHMENT_MAX_BYTES = 1024

    response = client_a.post(NEW, form_data(attachments=files))

    html = response.content.decode()
    assert response.status_code == 200
    assert error in html
    assert "please choose your attachments again" in html
    assert 'role="alert"' in html
    assert not Ticket.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(attachments_dir) == []


def test_an_empty_file_is_refused(client_a):
    response = client_a.post(NEW, form_data(attachments=[upload("empty.txt", b"")]))

    assert response.status_code == 200
    assert response.context["form"].errors["attachments"]
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": ""},
        {"description": "   "},
        {"category": ""},
        {"category": "hacking"},
        {"priority": "critical"},
        {"subject": "x" * 201},
    ],
)
def test_bad_input_re_renders_the_form_with_errors(client_a, overrides):
    response = client_a.post(NEW, form_data(**overrides))

    html = response.content.decode()
    assert response.status_code == 200
    assert not Ticket.objects.exists()
    assert "Please correct the following:" in html
    assert 'aria-invalid="true"' in html
    # What the customer typed stays in the form.
    if overrides.get("subject") != "":
        assert "My VPS is very slow" in html or "x" * 201 in html


def test_the_error_summary_links_each_field_in_page_order(client_a):
    html = client_a.post(NEW, {}).content.decode()

    links = [html.index(f'href="#id_{name}"') for name in ("subject", "category", "description")]
    assert links == sorted(links)
    assert html.index('id="id_subject"') < html.index('id="id_category"')
    assert html.index('id="id_category_0"') < html.index('id="id_category_1"')
    assert html.index('id="id_category_10"') < html.index('id="id_description"')


def test_a_get_with_garbage_changes_nothing(client_a):
    response = client_a.get(NEW, {"category": "<script>"})

    assert response.status_code == 200
    assert not Ticket.objects.exists()
