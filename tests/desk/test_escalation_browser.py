"""Escalation in a real browser: an agent escalates from the ticket page as the rules suggest,
and the customer reads the notice on their page; the approval form asks an amount for credits
only (desk.js). Screenshots of both pages are saved beside the test's temporary files."""

import re

import pytest
from django.utils import timezone

from teams.services import staff_upsert
from tests.e2e.conftest import CHROMIUM, browser, new_page  # noqa: F401 (fixtures)
from tests.factories import PASSWORD, make_customer, make_ticket
from tickets.models import Category
from usecases.setup import support_setup

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]


def signed_in(page, url, username):
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return page


@pytest.fixture
def vps():
    support_setup(now=timezone.now())
    staff_upsert(username="giulia", password=PASSWORD, teams=["support"], first_name="Giulia")
    customer = make_customer(username="carla")
    return make_ticket(
        customer=customer,
        subject="My VPS is slow",
        body="Pages take ten seconds since this morning.",
        category=Category.VPS,
    )


def test_an_agent_escalates_as_suggested_and_the_customer_reads_why(
    live_server,
    new_page,  # noqa: F811
    vps,
    tmp_path,
):
    from playwright.sync_api import expect

    desk = signed_in(
        new_page(),
        f"{live_server.url}/admin/login/?next=/admin/tickets/ticket/{vps.pk}/change/",
        "giulia",
    )
    expect(desk.get_by_text("Suggested: System administrators")).to_be_visible()
    escalate = desk.locator("#hd-action-escalate")
    expect(escalate.get_by_label("Team:", exact=True)).to_have_value("sysadmin")
    escalate.get_by_label("Why this team").fill(
        "The disks of your VPS's host are slow: our system administrators check them."
    )
    desk.screenshot(path=str(tmp_path / "desk-escalate.png"), full_page=True)
    escalate.get_by_role("button", name="Escalate").click()

    # Giulia's queue, with the report: the ticket has left her team.
    expect(desk.locator(".messagelist")).to_contain_text(
        f"{vps.reference} is passed to System administrators"
    )

    portal = signed_in(
        new_page(), f"{live_server.url}/accounts/login/?next=/tickets/{vps.pk}/", "carla"
    )
    notice = portal.get_by_text(re.compile("passed to our System administrators team"))
    expect(notice).to_be_visible()
    expect(portal.get_by_text(re.compile("The disks of your VPS's host are slow"))).to_be_visible()
    portal.screenshot(path=str(tmp_path / "portal-notice.png"), full_page=True)
    for name in ("desk-escalate.png", "portal-notice.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_the_amount_is_asked_for_credits_only(live_server, new_page, vps):  # noqa: F811
    from playwright.sync_api import expect

    desk = signed_in(
        new_page(),
        f"{live_server.url}/admin/login/?next=/admin/tickets/ticket/{vps.pk}/change/",
        "giulia",
    )
    approval = desk.locator("#hd-action-approval")
    approval.locator("summary").click()
    amount = approval.get_by_label("Amount")

    expect(amount).to_be_visible()
    approval.get_by_label("Approval of").select_option("account_exception")
    expect(amount).to_be_hidden()
    approval.get_by_label("Approval of").select_option("billing_credit")
    expect(amount).to_be_visible()
