"""Live chat in real browsers: a customer starts a chat and gets the automatic acknowledgement,
an agent takes it in the admin console and answers, both see each other live; a dropped
connection loses nothing; without sockets or JavaScript the plain forms still work.

Sockets need the ASGI application, so the site is served by uvicorn as in production (not by
pytest-django's WSGI live server), with a real Celery worker for the acknowledgement, both in
their own processes on the test database.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from teams.models import Team
from teams.services import support_structure_setup
from tests.e2e.conftest import CHROMIUM, browser, new_page  # noqa: F401 (fixtures)
from tests.factories import PASSWORD, make_agent, make_customer
from tests.processes import child_env, free_port
from tickets.models import Message, Ticket
from usecases.tickets import ticket_reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]

START_SECONDS = 60


def wait_until(ready, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not start in {START_SECONDS} s:\n{log.read_text()}")


@contextlib.contextmanager
def process(command: list[str], log: Path, env: dict[str, str]):
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory):
    """uvicorn serving helpdesk.asgi (HTTP and WebSocket) and a Celery worker, on the test
    database; yields the site's address."""
    workdir = tmp_path_factory.mktemp("chat-site")
    env = child_env(ATTACHMENTS_DIR=str(workdir / "files"), CHAT_REDIS_PREFIX="chat-e2e")
    # The browser fixture's allowance is for this test process only: the servers run as in
    # production, where an ORM call on the event loop is an error.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web_log, worker_log = workdir / "web.log", workdir / "worker.log"
    bin_dir = Path(sys.executable).parent
    web = [
        str(bin_dir / "uvicorn"),
        "helpdesk.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--log-level",
        "warning",
    ]
    worker = [
        str(bin_dir / "celery"),
        "-A",
        "helpdesk",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"e2e-chat-{os.getpid()}@%h",
    ]

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    with process(web, web_log, env) as web_proc, process(worker, worker_log, env) as worker_proc:
        wait_until(answers, web_proc, web_log, "uvicorn")
        wait_until(lambda: b" ready." in worker_log.read_bytes(), worker_proc, worker_log, "worker")
        yield url


def log_in(page, url: str, username: str, button: str = "Log in") -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def mark_page(page) -> None:
    """A flag that a navigation would wipe: "live" means it is still there afterwards."""
    page.evaluate("window.__sameDocument = true")


def still_same_page(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


@pytest.fixture
def people(transactional_db):
    support_structure_setup()
    make_customer(username="carla", first_name="Carla")
    agent = make_agent(username="giulia", teams=(Team.objects.get(slug="support"),))
    agent.first_name = "Giulia"
    agent.save(update_fields=["first_name"])


def start_chat(page, site: str, body: str) -> Ticket:
    from playwright.sync_api import expect

    log_in(page, f"{site}/accounts/login/", "carla")
    page.goto(f"{site}/chat/")
    page.get_by_label("Your message").fill(body)
    page.get_by_role("button", name="Start the chat").click()
    expect(page).to_have_url(re.compile(r"/tickets/\d+/#conversation-title$"))
    ticket_id = int(re.search(r"/tickets/(\d+)/", page.url).group(1))
    return Ticket.objects.get(pk=ticket_id, customer__username="carla")


def test_customer_and_agent_chat_live(site, people, new_page):  # noqa: F811
    from playwright.sync_api import expect

    # The customer starts a chat; the automatic acknowledgement arrives in the conversation.
    customer = new_page()
    ticket = start_chat(customer, site, "My VPS does not answer to ping.")
    conversation = customer.locator(".conversation .thread")
    widget = customer.locator("[data-chat]")
    expect(widget).to_have_attribute("data-chat-state", "live")
    mark_page(customer)
    expect(conversation.locator(".post-system")).to_contain_text(
        f"We have received your request {ticket.reference}"
    )
    assert ticket.channel == "chat"

    # The agent finds it among the waiting chats of their team and takes it.
    agent = new_page()
    log_in(agent, f"{site}/admin/login/?next=/admin/chat/", "giulia")
    expect(agent.get_by_role("heading", name="Waiting chats of my teams")).to_be_visible()
    row = agent.locator("[data-chat-queue] tr").filter(has_text=ticket.reference)
    expect(row).to_contain_text("My VPS does not answer to ping.")
    expect(row.locator(".chat-waited")).to_have_text(re.compile(r"^\d+:\d\d$"))
    mark_page(agent)
    row.get_by_role("button", name=f"Take {ticket.reference}").click()
    pane = agent.locator(f'[data-chat-pane="{ticket.pk}"]')
    expect(pane.locator("[data-chat]")).to_have_attribute("data-chat-state", "live")
    expect(pane.locator(".hd-msg--system")).to_contain_text(ticket.reference)
    expect(pane.locator(f"#chat{ticket.pk}-assignee")).to_have_text("Giulia")
    # The customer sees who handles it and that an agent is connected, without reloading.
    expect(customer.locator(".ticket-facts .status")).to_have_text("Open")
    expect(customer.locator("[data-chat-presence]")).to_have_text("An agent is connected.")

    # The customer types: the agent sees it; the agent answers in public: the customer reads it.
    customer.get_by_label("Your message").fill("Is anyone there?")
    expect(pane.locator("[data-chat-typing]")).to_have_text("Carla is typing…")
    customer.get_by_label("Your message").fill("")
    answer = "Hello Carla, I am looking at your VPS now."
    pane.get_by_label("Message").fill(answer)
    pane.get_by_role("button", name="Send", exact=True).click()
    expect(conversation.locator(".post-agent")).to_contain_text(answer)
    expect(conversation.locator(".post-agent .post-author")).to_have_text(
        "Giulia, INTROSERV support"
    )
    expect(pane.locator(".hd-msg--agent")).to_contain_text(answer)
    expect(pane.get_by_label("Message")).to_have_value("")

    # An internal note stays with the agents.
    pane.get_by_label("Internal note (agents only)").check()
    pane.get_by_label("Message").fill("Hypervisor ams-7 again")
    pane.get_by_role("button", name="Send", exact=True).click()
    expect(pane.locator(".hd-msg--internal")).to_contain_text("Hypervisor ams-7 again")

    # The customer answers from the same reply box; the agent reads it live, and it was read.
    customer.get_by_label("Your message").fill("Thank you! It answers again.")
    customer.get_by_role("button", name="Send reply").click()
    expect(pane.locator(".hd-msg--customer").last).to_contain_text("Thank you! It answers again.")
    expect(conversation.locator(".post-customer").last).to_contain_text("It answers again.")
    expect(conversation.locator(".chat-pending")).to_have_count(0)
    expect(pane.locator(".chat-read")).to_have_text("Read by Carla")

    assert still_same_page(customer) and still_same_page(agent)
    expect(conversation).not_to_contain_text("Hypervisor")
    bodies = list(ticket.messages.values_list("kind", "channel", "body"))
    assert bodies[0] == ("customer", "chat", "My VPS does not answer to ping.")
    assert [kind for kind, _channel, _body in bodies] == [
        "customer",
        "system",
        "agent",
        "internal",
        "customer",
    ]
    assert Message.objects.filter(ticket=ticket, body="Thank you! It answers again.").count() == 1


def test_a_dropped_connection_loses_nothing(site, people, new_page):  # noqa: F811
    """Offline, the customer's message waits in the page; the agent's answer of meanwhile is
    replayed from the last id seen; the message then goes, once."""
    from playwright.sync_api import expect

    customer = new_page()
    ticket = start_chat(customer, site, "Help with DNS")
    expect(customer.locator("[data-chat]")).to_have_attribute("data-chat-state", "live")
    mark_page(customer)
    # Cut the line: new sockets go nowhere until the network is back.
    customer.evaluate(
        """() => {
          const RealSocket = window.WebSocket;
          window.__restoreSocket = () => { window.WebSocket = RealSocket; };
          window.WebSocket = function () { return new RealSocket("ws://127.0.0.1:9/"); };
          window.WebSocket.OPEN = RealSocket.OPEN;
          document.querySelector("[data-chat]").helpdeskChat.socket.close(4000);
        }"""
    )
    expect(customer.locator("[data-chat]")).to_have_attribute("data-chat-state", "reconnecting")
    customer.get_by_label("Your message").fill("Written while offline")
    customer.get_by_role("button", name="Send reply").click()
    pending = customer.locator(".conversation .chat-pending")
    expect(pending).to_contain_text("Written while offline")
    expect(pending).to_contain_text("Not sent yet")

    giulia = get_user_model().objects.get(username="giulia")
    ticket_reply(
        ticket_id=ticket.pk,
        author=giulia,
        body="Answered while you were away",
        channel="chat",
        now=ticket.created_at,
    )
    customer.evaluate("window.__restoreSocket(); window.dispatchEvent(new Event('online'))")

    conversation = customer.locator(".conversation .thread")
    expect(conversation.locator(".post-agent")).to_contain_text("Answered while you were away")
    expect(conversation.locator(".post-customer").last).to_contain_text("Written while offline")
    expect(conversation.locator(".chat-pending")).to_have_count(0)
    assert still_same_page(customer)
    assert Message.objects.filter(ticket=ticket, body="Written while offline").count() == 1


def test_without_websockets_the_reply_form_posts(site, people, new_page):  # noqa: F811
    from playwright.sync_api import expect

    customer = new_page()
    customer.add_init_script("delete window.WebSocket;")
    ticket = start_chat(customer, site, "No sockets here")
    expect(customer.locator("[data-chat]")).to_have_attribute("data-chat-state", "plain")
    expect(customer.locator("[data-chat-status]")).to_contain_text("Live updates are not available")
    customer.get_by_label("Your message").fill("Sent by the plain form")
    customer.get_by_role("button", name="Send reply").click()
    expect(customer.get_by_text("Your reply has been sent.")).to_be_visible()
    expect(customer.locator(".post-customer").last).to_contain_text("Sent by the plain form")
    assert ticket.messages.filter(body="Sent by the plain form").exists()


def test_without_javascript_a_chat_still_starts(site, people, browser):  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        ticket = start_chat(page, site, "No JavaScript at all")
        expect(page.locator(".conversation .post-customer")).to_contain_text("No JavaScript at all")
        expect(page.get_by_role("button", name="Send reply")).to_be_visible()
        assert ticket.channel == "chat"
    finally:
        context.close()
