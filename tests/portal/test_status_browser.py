"""The status page in a real browser: anonymous, in English and in Italian, with JavaScript off;
and the new-ticket page telling a signed-in customer of an open incident on their site before
they write, with the way to follow it instead."""

import datetime

import pytest
from django.utils import timezone

from incidents.models import Follow
from teams.services import support_structure_setup
from tests.e2e.conftest import CHROMIUM, browser, new_page  # noqa: F401 (fixtures)
from tests.factories import PASSWORD, make_agent, make_customer, make_ticket
from usecases.incidents import incident_open, incident_update

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]


def outage_with_history():
    """An open outage in Amsterdam with two updates, and yesterday's resolved mail delays."""
    support_structure_setup()
    agent = make_agent(username="giulia")
    now = timezone.now()
    old = incident_open(
        actor=agent,
        title="Mail delays",
        description="Some messages arrive late.",
        service="Mail",
        now=now - datetime.timedelta(days=1, hours=2),
    )
    incident_update(
        incident_id=old.pk,
        actor=agent,
        body="Mail flows again.",
        status="resolved",
        now=now - datetime.timedelta(days=1),
    )
    outage = incident_open(
        actor=agent,
        title="Amsterdam network outage",
        description="Servers in Amsterdam are unreachable.",
        data_center="ams",
        service="Network",
        now=now - datetime.timedelta(hours=1),
    )
    incident_update(
        incident_id=outage.pk,
        actor=agent,
        body="A router failed; we are replacing it.",
        status="identified",
        now=now - datetime.timedelta(minutes=30),
    )
    return outage


@pytest.mark.parametrize(
    ("locale", "heading", "status", "open_title"),
    [
        ("en-US", "Service status", "Identified", "Open incidents"),
        ("it-IT", None, "Causa individuata", None),
    ],
)
def test_the_status_page_reads_without_javascript_in_both_languages(
    live_server,
    browser,  # noqa: F811
    tmp_path,
    locale,
    heading,
    status,
    open_title,
):
    from playwright.sync_api import expect

    outage_with_history()
    context = browser.new_context(java_script_enabled=False, locale=locale, timezone_id="UTC")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/status/")

        expect(page.locator("html")).to_have_attribute("lang", locale[:2])
        if heading:
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            expect(page.get_by_role("heading", name=open_title)).to_be_visible()
        outage = page.get_by_role("article", name="Amsterdam network outage")
        expect(outage).to_be_visible()
        expect(outage.get_by_text("A router failed; we are replacing it.")).to_be_visible()
        expect(outage.locator(".incident-meta .status")).to_have_text(status)
        expect(page.get_by_role("article", name="Mail delays")).to_be_visible()
        page.screenshot(path=str(tmp_path / f"status-{locale}.png"), full_page=True)

        page.get_by_role("link", name="Amsterdam network outage").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Amsterdam network outage")
        expect(page.get_by_text("Servers in Amsterdam are unreachable.")).to_be_visible()
    finally:
        context.close()


def test_the_new_ticket_page_offers_to_follow_an_open_incident(
    live_server,
    new_page,  # noqa: F811
    tmp_path,
):
    from playwright.sync_api import expect

    outage = outage_with_history()
    carla = make_customer(username="carla")
    make_ticket(customer=carla, data_center="ams")
    page = new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("carla")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/tickets/new/")

    known = page.get_by_role("region", name="We already know about these problems")
    expect(known).to_be_visible()
    expect(known.get_by_text("Amsterdam network outage", exact=True)).to_be_visible()
    expect(known.get_by_text("A router failed; we are replacing it.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "new-ticket-known-incident.png"), full_page=True)

    known.get_by_role("button", name="Follow it here").click()
    expect(page).to_have_url(f"{live_server.url}/status/incidents/{outage.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Amsterdam network outage")
    assert Follow.objects.filter(incident=outage, customer=carla).count() == 1
