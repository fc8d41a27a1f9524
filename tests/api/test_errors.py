"""Bad requests answer 4xx JSON `{"detail", "code", "errors"?}` and write nothing."""

import json

import pytest
from django.conf import settings
from django.test import RequestFactory

from api import errors as api_errors
from tests.portal.uploads import upload


def endpoints(ticket_id: int) -> list[tuple[str, str]]:
    base = f"/api/v1/tickets/{ticket_id}"
    return [
        ("get", "/api/v1/tickets/"),
        ("post", "/api/v1/tickets/"),
        ("get", f"{base}/"),
        ("get", f"{base}/messages/"),
        ("post", f"{base}/messages/"),
        ("post", f"{base}/assign/"),
        ("post", f"{base}/resolve/"),
        ("post", f"{base}/confirm/"),
        ("get", "/api/v1/teams/"),
        ("get", "/api/v1/attachments/1/"),
    ]


def post_urls(ticket_id: int) -> list[str]:
    base = f"/api/v1/tickets/{ticket_id}"
    return ["/api/v1/tickets/", f"{base}/messages/", f"{base}/assign/", f"{base}/resolve/"]


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    if code is not None:
        assert body["code"] == code
    if "errors" in body:
        assert all(
            isinstance(v, list) and all(isinstance(m, str) for m in v)
            for v in body["errors"].values()
        )
    return body


def test_every_endpoint_wants_authentication(api, ticket_a, rows):
    before = rows()
    for method, url in endpoints(ticket_a.pk):
        response = getattr(api(), method)(url, {"body": "hi"}, format="json")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"
    assert rows() == before


def test_a_wrong_token_is_401(api, ticket_a):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/tickets/"), 401, "authentication_failed")


@pytest.mark.parametrize("payload", ["{", '{"subject": "x",}', "\x00\xff", '{"body": "a"'])
def test_malformed_json_is_a_parse_error_everywhere(api, agent, ticket_a, rows, payload):
    before = rows()
    for url in [*post_urls(ticket_a.pk), f"/api/v1/tickets/{ticket_a.pk}/confirm/"]:
        response = api(agent).post(url, payload, content_type="application/json")
        assert_error(response, 400, "parse_error")
    assert rows() == before


def test_a_body_that_is_not_an_object_is_invalid(api, agent, ticket_a, rows):
    before = rows()
    for url in post_urls(ticket_a.pk):
        for payload in ("[1, 2]", '"text"', "42", "null"):
            response = api(agent).post(url, payload, content_type="application/json")
            assert response.status_code == 400, (url, payload)
            assert_error(response, 400)
    assert rows() == before


def test_an_unsupported_media_type_is_415(api, customer_a, ticket_a, rows):
    before = rows()
    for url in [*post_urls(ticket_a.pk), f"/api/v1/tickets/{ticket_a.pk}/confirm/"]:
        response = api(customer_a).post(url, "subject=x", content_type="text/plain")
        assert_error(response, 415, "unsupported_media_type")
    assert rows() == before


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/v1/tickets/", {"subject": ["x"], "body": "b", "category": "vps"}, "subject"),
        ("/api/v1/tickets/", {"subject": "s", "body": {"a": 1}, "category": "vps"}, "body"),
        ("/api/v1/tickets/", {"subject": "s", "body": "b", "category": 7}, "category"),
        (
            "/api/v1/tickets/",
            {"subject": "s", "body": "b", "category": "vps", "priority": []},
            "priority",
        ),
        (
            "/api/v1/tickets/",
            {"subject": "s", "body": "b", "category": "vps", "customer": "x"},
            "customer",
        ),
        ("messages/", {"body": ["hello"]}, "body"),
        ("messages/", {"body": "hello", "internal": "perhaps"}, "internal"),
        ("messages/", {"body": "hello", "client_id": {"x": 1}}, "client_id"),
        ("assign/", {"assignee": "someone"}, "assignee"),
        ("assign/", {"assignee": [1]}, "assignee"),
        ("resolve/", {"summary": {"how": "rebooted"}}, "summary"),
        ("resolve/", {}, "summary"),
    ],
)
def test_wrong_types_name_the_field(api, agent, ticket_a, rows, url, payload, field):
    if not url.startswith("/"):
        url = f"/api/v1/tickets/{ticket_a.pk}/{url}"
    before = rows()
    body = assert_error(api(agent).post(url, payload, format="json"), 400, "invalid")
    assert list(body["errors"]) == [field]
    assert rows() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "s", "body": "b", "category": "gardening"}, "category"),
        ({"subject": "s", "body": "b", "category": "vps", "priority": "asap"}, "priority"),
        ({"subject": "s", "body": "b", "category": "vps", "data_center": "xyz"}, "data_center"),
        ({"subject": "s", "body": "b", "category": "vps", "data_center": "../etc"}, "data_center"),
        ({"body": "b", "category": "vps"}, "subject"),
        ({"subject": "   ", "body": "b", "category": "vps"}, "subject"),
        ({"subject": "s", "body": "", "category": "vps"}, "body"),
    ],
)
def test_unknown_enum_values_and_missing_fields_on_create(api, customer_a, rows, payload, field):
    before = rows()
    body = assert_error(api(customer_a).post("/api/v1/tickets/", payload, format="json"), 400)
    assert field in body["errors"]
    assert rows() == before


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "category=gardening",
        "breached=maybe",
        "assignee=somebody",
        "assignee=-1",
        "team=no-such-team",
    ],
)
def test_unknown_filter_values_are_400_not_an_empty_list(api, agent, ticket_a, query):
    body = assert_error(api(agent).get(f"/api/v1/tickets/?{query}"), 400, "invalid")
    assert list(body["errors"]) == [query.partition("=")[0]]


ONE_MB = 1024 * 1024


def test_one_megabyte_fields_are_refused_and_nothing_is_written(api, agent, ticket_a, rows):
    big = "x" * ONE_MB
    before = rows()
    cases = [
        (
            "/api/v1/tickets/",
            {"subject": big, "body": "b", "category": "vps", "customer": ticket_a.customer_id},
            "subject",
        ),
        (
            "/api/v1/tickets/",
            {"subject": "s", "body": big, "category": "vps", "customer": ticket_a.customer_id},
            "body",
        ),
        (f"/api/v1/tickets/{ticket_a.pk}/messages/", {"body": big}, "body"),
        (f"/api/v1/tickets/{ticket_a.pk}/resolve/", {"summary": big}, "summary"),
    ]
    for url, payload, field in cases:
        body = assert_error(api(agent).post(url, payload, format="json"), 400, "invalid")
        assert field in body["errors"]
    assert rows() == before


def test_a_body_over_the_upload_limit_is_413_json(api, agent, customer_a, ticket_a, rows):
    too_big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    before = rows()
    for url in [*post_urls(ticket_a.pk), f"/api/v1/tickets/{ticket_a.pk}/confirm/"]:
        response = api(agent).post(
            url, json.dumps({"body": too_big}), content_type="application/json"
        )
        assert_error(response, 413, "request_too_large")
    assert rows() == before


def test_a_multipart_form_field_over_the_limit_is_413_json(
    api, customer_a, ticket_a, settings, rows
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = ONE_MB // 2
    before = rows()
    response = api(customer_a).post(
        f"/api/v1/tickets/{ticket_a.pk}/messages/",
        {"body": "x" * ONE_MB, "attachments": [upload()]},
        format="multipart",
    )
    assert_error(response, 413, "request_too_large")
    assert rows() == before


def test_a_multipart_body_larger_than_any_message_is_413_before_it_is_read(
    api, customer_a, ticket_a, settings, rows
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # with 5 files: at most 6000 bytes in all
    before = rows()
    response = api(customer_a).post(
        f"/api/v1/tickets/{ticket_a.pk}/messages/",
        {"body": "dump", "attachments": [upload("dump.log", b"x" * 7000)]},
        format="multipart",
    )
    assert_error(response, 413, "request_too_large")
    assert rows() == before


def test_a_refused_attachment_refuses_the_whole_message(api, customer_a, ticket_a, rows):
    before = rows()
    response = api(customer_a).post(
        f"/api/v1/tickets/{ticket_a.pk}/messages/",
        {"body": "see the file", "attachments": [upload("run.exe", b"MZ")]},
        format="multipart",
    )
    body = assert_error(response, 400, "invalid")
    assert list(body["errors"]) == ["attachments"]
    assert rows() == before


def test_unknown_api_paths_are_json_404(api, customer_a):
    for url in ["/api/v1/nope/", "/api/v1/", "/api/v2/tickets/", "/api/v1/tickets/abc/"]:
        assert_error(api(customer_a).get(url), 404, "not_found")
    assert_error(api().post("/api/whatever", {}), 404, "not_found")


def test_a_wrong_method_is_405_json(api, customer_a, ticket_a):
    assert_error(
        api(customer_a).delete(f"/api/v1/tickets/{ticket_a.pk}/"), 405, "method_not_allowed"
    )
    assert_error(
        api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/confirm/"), 405, "method_not_allowed"
    )


def test_django_level_404_and_500_handlers_answer_json_under_api():
    request = RequestFactory().get("/api/v1/tickets/")
    not_found = api_errors.page_not_found(request, Exception("x"))
    assert not_found.status_code == 404
    assert json.loads(not_found.content) == {"detail": "Not found.", "code": "not_found"}
    error = api_errors.server_error(request)
    assert error.status_code == 500
    assert json.loads(error.content)["code"] == "server_error"


@pytest.mark.django_db
def test_outside_api_the_handlers_keep_django_pages():
    request = RequestFactory().get("/tickets/")
    assert api_errors.server_error(request)["Content-Type"].startswith("text/html")
    assert api_errors.page_not_found(request, Exception("x"))["Content-Type"].startswith(
        "text/html"
    )


HUGE = "9" * 30


def test_ids_out_of_any_integer_range_are_not_a_server_error(api, agent, ticket_a, rows):
    client = api(agent)
    before = rows()
    assert client.get(f"/api/v1/tickets/{HUGE}/").status_code == 404
    assert client.get(f"/api/v1/tickets/{HUGE}/messages/").status_code == 404
    assert client.post(f"/api/v1/tickets/{HUGE}/assign/", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/attachments/{HUGE}/").status_code == 404
    assert client.get(f"/api/v1/tickets/?assignee={HUGE}").status_code == 400
    assert client.get(f"/api/v1/tickets/?page={HUGE}").status_code == 404
    url = f"/api/v1/tickets/{ticket_a.pk}/assign/"
    assert client.post(url, {"assignee": int(HUGE)}, format="json").status_code == 400
    new = {"subject": "s", "body": "b", "category": "vps", "customer": int(HUGE)}
    assert client.post("/api/v1/tickets/", new, format="json").status_code == 400
    assert rows() == before


def test_errors_speak_the_callers_language(api, agent, ticket_a):
    response = api(agent).get("/api/v1/tickets/?team=nope", HTTP_ACCEPT_LANGUAGE="it")
    assert response.json()["errors"] == {"team": ["Questo team non esiste."]}
    assert response.json()["detail"] == "Dati non validi."
