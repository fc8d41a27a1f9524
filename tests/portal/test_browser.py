"""portal.js in a real browser: the site field follows the category, errors take the focus;
without JavaScript the same form is complete."""

import pytest

from teams.services import support_structure_setup
from tests.e2e.conftest import CHROMIUM, browser, new_page  # noqa: F401 (fixtures)
from tests.factories import PASSWORD, make_customer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]


def logged_in(page, live_server):
    support_structure_setup()
    make_customer(username="carla")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("carla")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/tickets/new/")
    return page


def test_the_site_field_appears_for_server_problems_only(live_server, new_page):  # noqa: F811
    from playwright.sync_api import expect

    page = logged_in(new_page(), live_server)
    site = page.get_by_label("Where is the server?")

    expect(site).to_be_hidden()
    page.get_by_label("VPS problem").check()
    expect(site).to_be_visible()
    page.get_by_label("Billing and payments").check()
    expect(site).to_be_hidden()


def test_a_refused_form_moves_the_focus_to_its_errors(live_server, new_page):  # noqa: F811
    from playwright.sync_api import expect

    page = logged_in(new_page(), live_server)

    page.get_by_role("button", name="Send request").click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    summary.get_by_role("link", name="Subject: This field is required.").click()
    page.keyboard.type("typed after following the link")
    expect(page.get_by_label("Subject")).to_have_value("typed after following the link")


def test_without_javascript_the_site_field_is_always_offered(live_server, browser):  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    try:
        page = logged_in(context.new_page(), live_server)
        expect(page.get_by_label("Where is the server?")).to_be_visible()
    finally:
        context.close()
