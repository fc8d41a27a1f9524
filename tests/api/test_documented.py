"""What the API answers is what its OpenAPI document says: the cases the fuzzing of tests/fuzz/
found where the two disagreed."""

import re

import pytest

from tests.portal.uploads import upload

PAGINATED = [
    "/api/v1/tickets/",
    "/api/v1/approvals/",
    "/api/v1/incidents/",
    "/api/v1/sla/breaches/",
]


@pytest.fixture
def schema(api, agent):
    return api(agent).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_a_ticket_with_no_site_says_so_as_the_document_allows(api, customer_a, ticket_a, schema):
    ticket = api(customer_a).get(f"/api/v1/tickets/{ticket_a.pk}/").json()

    assert ticket["data_center"] == ""
    documented = schema["components"]["schemas"]["Ticket"]["properties"]["data_center"]
    assert documented["type"] == "string"
    assert re.search(documented.get("pattern", ""), "")


def test_a_file_is_served_with_its_own_type_and_documented_so(api, customer_a, ticket_a, schema):
    sent = api(customer_a).post(
        f"/api/v1/tickets/{ticket_a.pk}/messages/",
        {"body": "Screenshot", "attachments": [upload("screen.png")]},
        format="multipart",
    )
    file_id = sent.json()["attachments"][0]["id"]

    download = api(customer_a).get(f"/api/v1/attachments/{file_id}/")

    assert download["Content-Type"] == "image/png"
    ok = schema["paths"]["/api/v1/attachments/{id}/"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"*/*"}


@pytest.mark.parametrize("path", PAGINATED)
@pytest.mark.parametrize("page", ["0", "x", "99"])
def test_no_such_page_is_a_documented_404(api, manager, path, page, schema):
    response = api(manager).get(path, {"page": page})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "404" in schema["paths"][path]["get"]["responses"]


@pytest.mark.parametrize("path", PAGINATED)
@pytest.mark.parametrize("page_size", ["null", "0", "-1", "1.5"])
def test_a_page_size_that_is_no_whole_number_from_1_is_refused(api, manager, path, page_size):
    response = api(manager).get(path, {"page_size": page_size})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"page_size"}


def test_a_page_size_blank_or_over_100_still_answers(api, customer_a, ticket_a, schema):
    for page_size in ("", "100000"):
        response = api(customer_a).get("/api/v1/tickets/", {"page_size": page_size})
        assert response.status_code == 200
        assert response.json()["count"] == 1
    parameters = schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]
    page_size = next(p for p in parameters if p["name"] == "page_size")
    assert page_size["schema"]["minimum"] == 1


def test_a_blank_filter_is_one_not_given_and_documented_so(api, manager, ticket_a, schema):
    for path, name in [
        ("/api/v1/tickets/", "team"),
        ("/api/v1/tickets/", "status"),
        ("/api/v1/approvals/", "state"),
        ("/api/v1/incidents/", "open"),
        ("/api/v1/sla/summary/", "until"),
        ("/api/v1/sla/breaches/", "since"),
    ]:
        blank = api(manager).get(path, {name: ""})
        assert blank.status_code == 200, (path, name)
        if "count" in blank.json():
            assert blank.json()["count"] == api(manager).get(path).json()["count"], (path, name)
        parameters = schema["paths"][path]["get"]["parameters"]
        assert next(p for p in parameters if p["name"] == name)["allowEmptyValue"], (path, name)
