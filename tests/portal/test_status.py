"""The public status page, an incident's page, the Atom feed, and the known problems above the
new-ticket and chat forms (deflection): public without a login, in both languages, cached per
version of the incidents, never a customer's data, never an internal note."""

import datetime
import xml.etree.ElementTree as ET

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse

from incidents.models import Follow
from incidents.notices import status_url
from tests import factories
from usecases.incidents import incident_note, incident_open, incident_update

T0 = datetime.datetime(2025, 5, 20, 9, 0, tzinfo=datetime.UTC)
STATUS = "/status/"
FEED = "/status/feed/"
ATOM = "{http://www.w3.org/2005/Atom}"


def incident_url(incident) -> str:
    return f"/status/incidents/{incident.pk}/"


def follow_url(incident) -> str:
    return f"/status/incidents/{incident.pk}/follow/"


def opened(agent, title, *, at=T0, site="", service="", description="We are looking into it."):
    return incident_open(
        actor=agent,
        title=title,
        description=description,
        now=at,
        data_center=site,
        service=service,
    )


def updated(agent, incident, body, *, at, status=None):
    return incident_update(incident_id=incident.pk, actor=agent, body=body, now=at, status=status)


def resolved(agent, incident, *, at, body="Fixed."):
    return updated(agent, incident, body, at=at, status="resolved")


def html_of(response) -> str:
    return response.content.decode()


def atom(response) -> ET.Element:
    return ET.fromstring(response.content)  # noqa: S314 (our own feed)


@pytest.fixture
def anonymous(db):
    return Client()


def test_the_routes_are_the_public_contract(agent):
    outage = opened(agent, "Amsterdam network outage")

    assert reverse("status:page") == STATUS
    assert reverse("status:feed") == FEED
    assert reverse("status:incident", kwargs={"incident_id": 7}) == "/status/incidents/7/"
    assert reverse("status:follow", kwargs={"incident_id": 7}) == "/status/incidents/7/follow/"
    # What every update in a thread links to.
    assert status_url(outage) == f"{settings.SITE_URL}{incident_url(outage)}"


# --- The page -----------------------------------------------------------------------------------


def test_the_page_is_public_open_incidents_first_each_with_its_updates_newest_first(
    anonymous, agent
):
    old = opened(agent, "Mail delays", at=T0 - datetime.timedelta(days=3), service="Mail")
    resolved(agent, old, at=T0 - datetime.timedelta(days=2), body="Mail flows again.")
    outage = opened(agent, "Amsterdam network outage", site="ams")
    updated(agent, outage, "A router failed; we are replacing it.", at=T0, status="identified")
    updated(
        agent,
        outage,
        "Traffic is back; we keep watching.",
        at=T0 + datetime.timedelta(minutes=40),
        status="monitoring",
    )

    with time_machine.travel(T0 + datetime.timedelta(hours=1), tick=False):
        response = anonymous.get(STATUS)

    html = html_of(response)
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert html.index("Open incidents") < html.index("Amsterdam network outage")
    assert html.index("Amsterdam network outage") < html.index("Resolved in the last 90 days")
    assert html.index("Resolved in the last 90 days") < html.index("Mail delays")
    assert html.index("Traffic is back") < html.index("A router failed")
    assert "Mail flows again." in html
    assert '<time datetime="2025-05-20T09:40:00+00:00">20 May 2025, 09:40</time>' in html
    assert "Times are shown in UTC." in html
    assert f'href="{incident_url(outage)}"' in html
    assert 'href="/status/feed/"' in html


def test_with_no_open_incident_the_page_says_everything_runs(anonymous):
    html = html_of(anonymous.get(STATUS))

    assert "No open incidents: everything is running normally." in html
    assert "No incident was resolved in this period." in html


def test_the_page_speaks_italian_by_the_browser_and_by_the_language_switch(anonymous, agent):
    outage = opened(agent, "Interruzione di rete ad Amsterdam", site="ams")
    updated(agent, outage, "Sostituiamo un router.", at=T0, status="identified")

    by_headers = html_of(anonymous.get(STATUS, HTTP_ACCEPT_LANGUAGE="it"))
    anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = "it"
    by_cookie = html_of(anonymous.get(STATUS))

    for html in (by_headers, by_cookie):
        assert '<html lang="it">' in html
        assert "Causa individuata" in html  # the update's status, in Italian
        assert "20 Mag 2025, 09:00" in html
        assert "Sostituiamo un router." in html


def test_a_signed_in_customer_reads_the_times_in_their_own_zone(client_a, customer_a, agent):
    customer_a.customer_profile.timezone = "Europe/Rome"
    customer_a.customer_profile.save(update_fields=["timezone"])
    opened(agent, "Amsterdam network outage", site="ams")

    html = html_of(client_a.get(STATUS))

    assert "20 May 2025, 11:00" in html
    assert "Times are shown in Europe/Rome." in html


def test_the_history_keeps_90_days_and_no_more(anonymous, agent):
    recent = opened(agent, "Recent disk failure", at=T0 - datetime.timedelta(days=95))
    resolved(agent, recent, at=T0 - datetime.timedelta(days=89))
    forgotten = opened(agent, "Forgotten power cut", at=T0 - datetime.timedelta(days=95))
    resolved(agent, forgotten, at=T0 - datetime.timedelta(days=91))

    with time_machine.travel(T0, tick=False):
        html = html_of(anonymous.get(STATUS))

    assert "Recent disk failure" in html
    assert "Forgotten power cut" not in html


def test_the_page_filters_by_site_and_by_service(anonymous, agent):
    opened(agent, "Amsterdam network outage", site="ams", service="Network")
    opened(agent, "Miami power maintenance", site="mia", service="Power")
    opened(agent, "Control panel login errors", service="Control panel")

    everything = html_of(anonymous.get(STATUS))
    at_ams = html_of(anonymous.get(STATUS, {"site": "ams"}))
    power = html_of(anonymous.get(STATUS, {"service": "power"}))

    assert all(
        title in everything for title in ("Amsterdam network", "Miami power", "Control panel login")
    )
    # The filters are links, the current one marked.
    assert '<a href="/status/?site=ams">AMS</a>' in everything
    assert '<a href="/status/?service=Control+panel">Control panel</a>' in everything
    assert '<a href="/status/?site=ams" aria-current="page">AMS</a>' in at_ams
    # A site's page keeps the incidents of every site: they touch it too.
    assert "Amsterdam network outage" in at_ams
    assert "Control panel login errors" in at_ams
    assert "Miami power maintenance" not in at_ams
    assert "Miami power maintenance" in power
    assert '<a href="/status/?service=Power" aria-current="page">Power</a>' in power
    assert "Amsterdam network outage" not in power
    assert "Control panel login errors" not in power


@pytest.mark.parametrize(
    "query",
    [
        {"site": "<script>alert(1)</script>"},
        {"site": "a" * 21},
        {"service": "x" * 101},
        {"service": "dns\x00"},
    ],
)
def test_a_malformed_filter_is_refused_with_every_incident_shown(anonymous, agent, query):
    opened(agent, "Amsterdam network outage", site="ams")

    response = anonymous.get(STATUS, query)

    html = html_of(response)
    assert response.status_code == 400
    assert "This filter is not valid: every incident is shown." in html
    assert "Amsterdam network outage" in html
    assert "<script>alert(1)</script>" not in html


def test_a_filter_no_incident_has_shows_none(anonymous, agent):
    opened(agent, "Amsterdam network outage", site="ams")

    response = anonymous.get(STATUS, {"site": "nowhere", "service": "Nothing", "page": "x"})

    assert response.status_code == 200
    assert "Amsterdam network outage" not in html_of(response)
    assert "No open incidents" in html_of(response)


def test_the_page_is_only_read(anonymous):
    assert anonymous.head(STATUS).status_code == 200  # monitors ask with HEAD
    assert anonymous.post(STATUS).status_code == 405
    assert anonymous.post(FEED).status_code == 405


def test_internal_notes_never_reach_the_page_the_incident_or_the_feed(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams")
    updated(agent, outage, "A router failed.", at=T0)
    incident_note(incident_id=outage.pk, actor=agent, body="SECRET supplier is late", now=T0)

    for url in (STATUS, incident_url(outage), FEED):
        body = html_of(anonymous.get(url))
        assert "A router failed." in body
        assert "SECRET" not in body


def test_incident_words_are_escaped_everywhere(anonymous, agent):
    outage = opened(agent, "<script>alert('t')</script>", description="<b>bold</b> & more")
    updated(agent, outage, "<img src=x onerror=alert(1)>", at=T0)

    for url in (STATUS, incident_url(outage)):
        html = html_of(anonymous.get(url))
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in html
        assert "<img src=x" not in html
        assert "<b>bold</b>" not in html
    feed = atom(anonymous.get(FEED))
    summaries = [entry.findtext(f"{ATOM}summary") for entry in feed.iter(f"{ATOM}entry")]
    assert "<p>&lt;img src=x onerror=alert(1)&gt;</p>" in summaries


# --- Cached and fast ---------------------------------------------------------------------------


def test_anonymous_pages_may_be_kept_by_shared_caches_a_few_seconds(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams")

    for url in (STATUS, incident_url(outage)):
        response = anonymous.get(url)
        assert response["Cache-Control"] == "public, max-age=15"
        vary = {value.strip() for value in response["Vary"].split(",")}
        assert {"Accept-Language", "Cookie"} <= vary


def test_a_signed_in_visitor_s_page_stays_in_their_browser(client_a, agent):
    response = client_a.get(STATUS)

    assert response["Cache-Control"] == "private, max-age=15"
    assert "Signed in as alice" in html_of(response)


def test_a_refused_filter_is_not_kept(anonymous):
    response = anonymous.get(STATUS, {"site": "not a slug"})

    assert "public" not in response.get("Cache-Control", "")


def test_the_incidents_part_is_rendered_once_per_version(
    anonymous, agent, django_assert_num_queries
):
    outage = opened(agent, "Amsterdam network outage", site="ams")
    anonymous.get(STATUS)

    with django_assert_num_queries(0):
        assert "Amsterdam network outage" in html_of(anonymous.get(STATUS))
    # A new update is a new version: on the page at once.
    updated(agent, outage, "Traffic is back.", at=T0, status="monitoring")
    assert "Traffic is back." in html_of(anonymous.get(STATUS))
    # Each language and each filter is its own part.
    assert '<html lang="it">' in html_of(anonymous.get(STATUS, HTTP_ACCEPT_LANGUAGE="it"))
    assert "Amsterdam" not in html_of(anonymous.get(STATUS, {"site": "mia"}))
    assert "Amsterdam" in html_of(anonymous.get(STATUS))


def _queries_for_page(client, django_assert_max_num_queries, url) -> int:
    with django_assert_max_num_queries(100) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("url", [STATUS, FEED])
def test_a_page_s_queries_do_not_grow_with_incidents_and_updates(
    anonymous, agent, django_assert_max_num_queries, url
):
    def add(count: int) -> None:
        for n in range(count):
            incident = opened(agent, f"Outage {n}", site="ams" if n % 2 else "")
            updated(agent, incident, "First.", at=T0)
            updated(agent, incident, "Second.", at=T0 + datetime.timedelta(minutes=5))
            if n % 3 == 0:
                resolved(agent, incident, at=T0 + datetime.timedelta(minutes=10))

    add(2)
    few = _queries_for_page(anonymous, django_assert_max_num_queries, url)
    add(12)
    many = _queries_for_page(anonymous, django_assert_max_num_queries, url)

    assert few == many


def test_the_incident_page_is_read_once_per_version(anonymous, agent, django_assert_num_queries):
    outage = opened(agent, "Amsterdam network outage", site="ams")
    for n in range(5):
        updated(agent, outage, f"Update {n}.", at=T0 + datetime.timedelta(minutes=n))

    with django_assert_num_queries(2):  # the incident, its updates
        anonymous.get(incident_url(outage))
    with django_assert_num_queries(0):
        assert "Update 4." in html_of(anonymous.get(incident_url(outage)))


# --- An incident's page ------------------------------------------------------------------------


def test_an_incident_s_page_shows_it_with_all_its_updates(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams", service="Network")
    updated(agent, outage, "A router failed.", at=T0, status="identified")
    resolved(agent, outage, at=T0 + datetime.timedelta(hours=2), body="All traffic is back.")

    response = anonymous.get(incident_url(outage))

    html = html_of(response)
    assert response.status_code == 200
    assert "<title>Amsterdam network outage · INTROSERV</title>" in html
    assert "Site AMS" in html and "Service: Network" in html
    assert html.index("All traffic is back.") < html.index("A router failed.")
    assert '<dt>Resolved</dt>\n    <dd><time datetime="2025-05-20T11:00:00+00:00">' in html
    assert 'id="update-' in html


@pytest.mark.parametrize("path", ["999999/", "999999999999999999999/", "abc/", "-1/"])
def test_an_unknown_incident_is_not_found(anonymous, path):
    assert anonymous.get(f"/status/incidents/{path}").status_code == 404


# --- The feed ----------------------------------------------------------------------------------


def test_the_feed_is_atom_with_an_entry_per_incident_and_per_update(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams")
    first = updated(agent, outage, "A router failed.", at=T0, status="identified")
    updated(agent, outage, "Traffic is back.", at=T0 + datetime.timedelta(minutes=30))
    old = opened(agent, "Mail delays", at=T0 - datetime.timedelta(days=3))
    resolved(agent, old, at=T0 - datetime.timedelta(days=2))

    with time_machine.travel(T0 + datetime.timedelta(hours=1), tick=False):
        response = anonymous.get(FEED)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = atom(response)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "INTROSERV service status"
    assert feed.findtext(f"{ATOM}id")
    assert feed.findtext(f"{ATOM}updated")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 5  # two incidents opened, three updates
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(set(ids)) == 5
    for entry in entries:
        assert entry.findtext(f"{ATOM}title")
        assert entry.findtext(f"{ATOM}updated")
        assert entry.find(f"{ATOM}link").get("href").startswith("http://testserver/status/")
    titles = [entry.findtext(f"{ATOM}title") for entry in entries]
    assert titles[0] == "Amsterdam network outage: Identified"  # the newest first
    assert "Amsterdam network outage: opened" in titles
    assert "Mail delays: Resolved" in titles
    links = [entry.find(f"{ATOM}link").get("href") for entry in entries]
    assert f"http://testserver{incident_url(outage)}#update-{first.pk}" in links


def test_the_feed_speaks_the_reader_s_language_and_answers_not_modified(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams")
    updated(agent, outage, "A router failed.", at=T0, status="identified")

    italian = atom(anonymous.get(FEED, HTTP_ACCEPT_LANGUAGE="it"))
    response = anonymous.get(FEED)

    titles = [entry.findtext(f"{ATOM}title") for entry in italian.iter(f"{ATOM}entry")]
    assert "Amsterdam network outage: Causa individuata" in titles
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["Last-Modified"] == "Tue, 20 May 2025 09:00:00 GMT"
    again = anonymous.get(FEED, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


# --- Deflection: what the customer sees before writing ----------------------------------------


@pytest.fixture
def incidents_around_alice(customer_a, agent):
    """Alice's servers are in Amsterdam (her earlier request says so)."""
    factories.make_ticket(customer=customer_a, data_center="ams", now=T0)
    ams = opened(agent, "Amsterdam network outage", site="ams")
    updated(agent, ams, "A router failed; we are replacing it.", at=T0, status="identified")
    updated(agent, ams, "Traffic is coming back.", at=T0 + datetime.timedelta(minutes=20))
    return {
        "ams": ams,
        "everywhere": opened(agent, "Control panel login errors", service="Control panel"),
        "mia": opened(agent, "Miami power maintenance", site="mia"),
        "ams_resolved": resolved(
            agent,
            opened(agent, "Earlier Amsterdam disk fault", site="ams"),
            at=T0 + datetime.timedelta(minutes=5),
        ).incident,
    }


@pytest.mark.parametrize("url", ["/tickets/new/", "/chat/"])
def test_the_forms_show_the_open_incidents_of_the_customer_s_sites_first(
    client_a, incidents_around_alice, url
):
    html = html_of(client_a.get(url))

    assert "We already know about these problems" in html
    assert html.index("We already know about these problems") < html.index("<textarea")
    assert "Amsterdam network outage" in html
    assert "Traffic is coming back." in html  # the latest update
    assert "A router failed" not in html
    assert "Control panel login errors" in html  # of no site: it touches every site
    assert "Miami power maintenance" not in html
    assert "Earlier Amsterdam disk fault" not in html
    assert f'action="{follow_url(incidents_around_alice["ams"])}"' in html
    assert "Follow it here" in html


@pytest.mark.parametrize("url", ["/tickets/new/", "/chat/"])
def test_the_latest_update_s_time_is_in_the_customer_s_zone(
    client_a, customer_a, incidents_around_alice, url
):
    customer_a.customer_profile.timezone = "Europe/Rome"
    customer_a.customer_profile.save(update_fields=["timezone"])

    assert "20 May 2025, 11:20</time>" in html_of(client_a.get(url))


@pytest.mark.parametrize("url", ["/tickets/new/", "/chat/"])
def test_with_no_incident_on_their_sites_the_forms_come_alone(customer_b, client, agent, url):
    opened(agent, "Miami power maintenance", site="mia")
    client.force_login(customer_b)

    assert "We already know" not in html_of(client.get(url))


@pytest.mark.parametrize("url", ["/tickets/new/", "/chat/"])
def test_the_panel_s_queries_do_not_grow_with_incidents(
    client_a, customer_a, agent, django_assert_max_num_queries, url
):
    factories.make_ticket(customer=customer_a, data_center="ams", now=T0)

    def add(count: int) -> None:
        for n in range(count):
            incident = opened(agent, f"Outage {n}", site="ams")
            updated(agent, incident, "First.", at=T0)
            updated(agent, incident, "Second.", at=T0 + datetime.timedelta(minutes=1))

    add(1)
    few = _queries_for_page(client_a, django_assert_max_num_queries, url)
    add(8)
    many = _queries_for_page(client_a, django_assert_max_num_queries, url)

    assert few == many


def test_following_counts_a_customer_once_and_leads_to_the_incident(
    client_a, customer_b, client, incidents_around_alice
):
    ams = incidents_around_alice["ams"]

    first = client_a.post(follow_url(ams))
    second = client_a.post(follow_url(ams))
    client.force_login(customer_b)
    client.post(follow_url(ams))

    assert first.status_code == second.status_code == 302
    assert first["Location"] == incident_url(ams)
    assert Follow.objects.filter(incident=ams).count() == 2
    assert "Amsterdam network outage" in html_of(client_a.get(first["Location"]))


def test_a_get_of_the_follow_link_counts_no_one(client_a, incidents_around_alice):
    ams = incidents_around_alice["ams"]

    response = client_a.get(follow_url(ams))

    assert response.status_code == 302
    assert response["Location"] == incident_url(ams)
    assert not Follow.objects.exists()


def test_an_anonymous_follow_is_asked_to_sign_in(anonymous, agent):
    outage = opened(agent, "Amsterdam network outage", site="ams")

    response = anonymous.post(follow_url(outage))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/status/incidents/{outage.pk}/follow/"
    assert not Follow.objects.exists()


def test_staff_and_resolved_incidents_count_no_follow(client, agent, incidents_around_alice):
    client.force_login(agent)

    client.post(follow_url(incidents_around_alice["ams"]))
    client.post(follow_url(incidents_around_alice["ams_resolved"]))

    assert not Follow.objects.exists()


def test_following_needs_the_form_s_token_and_an_incident_that_exists(
    customer_a, incidents_around_alice, client_a
):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer_a)

    assert strict.post(follow_url(incidents_around_alice["ams"])).status_code == 403
    assert client_a.post("/status/incidents/999999/follow/").status_code == 404
    assert client_a.put(follow_url(incidents_around_alice["ams"])).status_code == 405
    assert not Follow.objects.exists()


def test_every_page_links_the_status_page(anonymous, client_a):
    for client in (anonymous, client_a):
        assert '<a href="/status/">Service status</a>' in html_of(client.get("/"))


def test_without_the_cache_the_page_is_read_from_the_database(anonymous, agent, settings):
    opened(agent, "Amsterdam network outage", site="ams")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }

    for url in (STATUS, FEED):
        response = anonymous.get(url)
        assert response.status_code == 200
        assert "Amsterdam network outage" in html_of(response)
