"""The Content-Security-Policy in a real browser: the admin's pages, the chat console, the
portal and the API's Swagger UI run all their scripts (none is blocked), while a script slipped
into a page is refused."""

import pytest

from teams.services import support_structure_setup
from tests.e2e.conftest import CHROMIUM, browser, csp_violations, new_page  # noqa: F401
from tests.factories import PASSWORD, make_agent, make_customer, make_ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]


def log_in(page, url: str, username: str, path: str = "/accounts/login/") -> None:
    page.goto(f"{url}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_the_desk_and_the_api_docs_run_under_the_policy(live_server, new_page):  # noqa: F811
    from playwright.sync_api import expect

    support_structure_setup()
    make_agent(username="boss", superuser=True)
    ticket = make_ticket(customer=make_customer(username="carla"))
    page = new_page()
    log_in(page, live_server.url, "boss", "/admin/login/")

    for path in (
        "/admin/",
        "/admin/tickets/ticket/",
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/teams/team/add/",
        "/admin/chat/",
        "/dashboard/sla/",
    ):
        # goto waits for the load event: the page's (deferred) scripts have run by then.
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"]

    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI has read the schema and drawn the operations: its scripts all ran.
    expect(page.locator(".opblock-tag").first).to_be_visible()


def test_the_portal_runs_under_the_policy(live_server, new_page):  # noqa: F811
    support_structure_setup()
    ticket = make_ticket(customer=make_customer(username="carla"))
    page = new_page()
    log_in(page, live_server.url, "carla")

    for path in ("/", "/tickets/", "/tickets/new/", f"/tickets/{ticket.pk}/", "/chat/"):
        assert page.goto(f"{live_server.url}{path}").status == 200, path


def test_a_script_slipped_into_a_page_is_refused(live_server, browser):  # noqa: F811
    context = browser.new_context()
    blocked = csp_violations(context)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.slipped = true";
                document.body.append(script);
                const link = document.createElement("a");
                link.setAttribute("onclick", "window.clicked = true");
                link.textContent = "x";
                document.body.append(link);
                link.click();
            }"""
        )

        assert page.evaluate("[window.slipped, window.clicked]") == [None, None]
        assert any("inline script" in text or "inline event" in text for text in blocked)
    finally:
        context.close()
