"""The whole ticket flow in a real browser: a customer opens a ticket in the portal, an agent
answers it from the admin queue, the customer reads the answer."""

import re

import pytest

from tests.e2e.conftest import CHROMIUM
from tests.factories import PASSWORD, first_line_team, make_agent, make_customer
from tickets.models import Message, OutboundEmail, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]


def log_in(page, url: str, username: str, button: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
def test_customer_opens_agent_answers_customer_reads(live_server, new_page):
    from playwright.sync_api import expect

    support = first_line_team()
    make_customer(username="carla")
    make_agent(username="alice", teams=(support,))
    subject = "My VPS is unreachable"
    answer = "We restarted the hypervisor; your VPS answers again."

    # The customer logs in and opens a ticket.
    customer = new_page()
    log_in(customer, f"{live_server.url}/accounts/login/", "carla", "Log in")
    expect(customer).to_have_url(f"{live_server.url}/tickets/")
    customer.goto(f"{live_server.url}/tickets/new/")
    customer.get_by_label("Subject").fill(subject)
    customer.get_by_label("VPS problem").check()
    customer.get_by_label("Describe the problem").fill("Since 9:00 it does not answer to ping.")
    customer.get_by_role("button", name="Send request").click()
    expect(customer.get_by_role("heading", level=1)).to_contain_text(subject)
    ticket = Ticket.objects.get(subject=subject)
    ticket_url = f"{live_server.url}/tickets/{ticket.pk}/"
    expect(customer).to_have_url(re.compile(re.escape(ticket_url)))

    # It is in "my tickets".
    customer.goto(f"{live_server.url}/tickets/")
    expect(customer.get_by_role("link", name=ticket.reference)).to_be_visible()
    expect(customer.get_by_role("rowheader", name=subject)).to_be_visible()

    # The agent finds it in the queue and answers publicly from the ticket page.
    agent = new_page()
    log_in(agent, f"{live_server.url}/admin/login/?next=/admin/tickets/ticket/", "alice", "Log in")
    expect(agent.get_by_role("heading", level=1)).to_have_text("Ticket queue")
    row = agent.get_by_role("row").filter(has_text=ticket.reference)
    expect(row).to_contain_text(subject)
    expect(row.locator(".hd-deadline")).to_have_text(re.compile(r"^in \d+ min$"))
    row.get_by_role("link", name=ticket.reference).click()
    expect(agent.get_by_role("heading", level=1)).to_contain_text(f"{ticket.reference}: {subject}")
    expect(agent.get_by_role("radio", name=re.compile("Public reply"))).to_be_checked()
    agent.get_by_label("Message").fill(answer)
    agent.get_by_role("button", name="Send").click()
    expect(agent.get_by_text("Reply sent to the customer.")).to_be_visible()
    expect(agent.locator(".hd-msg--agent")).to_contain_text(answer)

    # The customer reloads the ticket and reads the answer.
    customer.goto(ticket_url)
    expect(customer.get_by_text(answer)).to_be_visible()

    reply = Message.objects.get(ticket=ticket, body=answer)
    assert reply.kind == Message.Kind.AGENT
    assert OutboundEmail.objects.filter(message=reply, purpose="reply").exists()
