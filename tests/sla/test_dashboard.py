"""The managers' SLA dashboard, /dashboard/sla/: who sees it, what it shows (compliance for
a window, open and at-risk promises, missed promises with their "new" marks), its filters,
bad input, escaping, languages, a constant number of queries, and the links to it."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from desk.dashboard import VISIT_GAP
from sla.models import Breach, Clock
from sla.policy import Metric
from tests.sla.conftest import MINUTE, T0, missed, open_tickets, sweep

URL = "/dashboard/sla/"
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _cache(private_cache):
    """Every test starts with no manager having seen anything."""


def page(client, user, when=T0 + 20 * MINUTE, **params):
    client.force_login(user)
    with time_machine.travel(when, tick=False):
        return client.get(URL, params)


def html(response) -> str:
    return response.content.decode()


# --- Who sees it -------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, people):
    response = client.get(URL + "?team=support")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/dashboard/sla/%3Fteam%3Dsupport"


@pytest.mark.parametrize("role", ["customer", "agent"])
def test_customers_and_agents_get_the_sites_404(client, people, role):
    (ticket,) = missed(1)
    response = page(client, people[role])
    assert response.status_code == 404
    assert "SLA dashboard" not in html(response)
    assert ticket.reference not in html(response)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_see_it(client, people, role):
    response = page(client, people[role])
    assert response.status_code == 200
    assert "<h1>SLA dashboard</h1>" in html(response)


def test_only_get(client, people):
    client.force_login(people["manager"])
    assert client.post(URL).status_code == 405


# --- What it shows -----------------------------------------------------------------------------


def test_missed_promises_newest_first_linked_to_the_agents_ticket_page(client, people):
    (old,) = missed(1, at=T0)
    (new,) = missed(1, at=T0 + 5 * MINUTE)

    response = page(client, people["manager"])

    breaches = list(response.context["page"])
    assert [b.ticket_id for b in breaches] == [new.pk, new.pk, old.pk, old.pk]
    body = html(response)
    assert f'href="/admin/tickets/ticket/{old.pk}/change/"' in body
    assert "4 missed promises, newest first." in body
    assert body.count('class="sla-pending"') == 4  # managers not emailed yet


def test_filters_narrow_the_missed_promises(client, people, structure):
    (ticket,) = missed(1)
    Breach.objects.filter(ticket=ticket, metric=Metric.ACKNOWLEDGEMENT).update(
        team=structure["billing"]
    )

    def shown(**params) -> set[tuple[str, str]]:
        response = page(client, people["manager"], **params)
        assert response.status_code == 200
        return {(b.team.slug, b.metric) for b in response.context["page"]}

    assert shown(team="billing") == {("billing", "acknowledgement")}
    assert shown(metric="first_response") == {("support", "first_response")}
    assert shown(team="billing", metric="first_response") == set()
    assert "No missed promise matches these filters." in html(
        page(client, people["manager"], team="billing", metric="first_response")
    )


@pytest.mark.parametrize(
    "params",
    [{"window": "forever"}, {"team": "nobody"}, {"metric": "mood"}, {"page": "x"}],
)
def test_bad_filters_are_400_shown_on_the_page_and_change_nothing(client, people, params):
    missed(1)
    before = list(Breach.objects.order_by("pk").values())

    response = page(client, people["manager"], **params)

    assert response.status_code == 400
    assert 'role="alert"' in html(response)
    (field,) = params
    assert response.context["form"].errors[field]
    assert len(response.context["page"].object_list) == 2  # the valid defaults still apply
    assert list(Breach.objects.order_by("pk").values()) == before


def test_compliance_for_the_chosen_window(client, people):
    missed(1, at=T0 - 3 * DAY)
    missed(2, at=T0 - 10 * DAY)
    when = T0 + 20 * MINUTE

    def support_row(window=None):
        params = {"window": window} if window else {}
        response = page(client, people["manager"], when=when, **params)
        return [
            (r.metric, r.breached) for r in response.context["summary"] if r.team.slug == "support"
        ]

    assert support_row("today") == []
    assert support_row("7d") == [("acknowledgement", 1), ("first_response", 1)]
    assert support_row("30d") == [("acknowledgement", 3), ("first_response", 3)]
    assert support_row() == support_row("7d")  # the default
    response = page(client, people["manager"], when=when, window="today")
    assert response.context["since"] == datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC)
    assert "No promise was kept or missed in this period." in html(response)
    body = html(page(client, people["manager"], when=when, window="30d"))
    assert "0.0%" in body  # compliance of the missed acknowledgements


def test_promises_at_risk_and_open_now(client, people, settings):
    settings.SLA_WARNING_MARGIN_SECONDS = 5 * 60
    (ticket,) = open_tickets(1, at=T0, subject="Disk full on ams-3")
    # At T0 + 6 min the first response (due at 10 min) is at risk; the acknowledgement is
    # automatic and left out; status update and resolution are hours away.
    response = page(client, people["manager"], when=T0 + 6 * MINUTE)

    at_risk = response.context["at_risk"]
    assert [(c.ticket_id, c.metric) for c in at_risk] == [(ticket.pk, "first_response")]
    body = html(response)
    assert "Disk full on ams-3" in body
    assert "At risk: due within 5 minutes" in body
    assert "4 promises open." in body
    open_clocks = {row["metric"]: row for row in response.context["open_clocks"]}
    assert open_clocks[Metric.ACKNOWLEDGEMENT]["open"] == 1

    # Once breached it is no longer "at risk": it is missed, and still open.
    sweep(T0 + 11 * MINUTE)
    response = page(client, people["manager"], when=T0 + 11 * MINUTE)
    assert list(response.context["at_risk"]) == []
    assert "Nothing is about to be missed." in html(response)
    open_clocks = {row["metric"]: row for row in response.context["open_clocks"]}
    assert open_clocks[Metric.FIRST_RESPONSE]["breached"] == 1


def test_paused_promises_are_not_at_risk(client, people):
    (ticket,) = open_tickets(1, at=T0)
    Clock.objects.filter(ticket=ticket).update(paused_at=T0, remaining_seconds=60)
    response = page(client, people["manager"], when=T0 + 9 * MINUTE)
    assert list(response.context["at_risk"]) == []
    open_clocks = {row["metric"]: row for row in response.context["open_clocks"]}
    assert open_clocks[Metric.RESOLUTION]["paused"] == 1


# --- New since the manager's last visit ---------------------------------------------------------


def new_marks(response) -> list[bool]:
    return [b.is_new for b in response.context["page"]]


def test_breaches_after_a_managers_last_visit_are_marked_new_for_the_whole_visit(client, people):
    manager = people["manager"]
    missed(1, at=T0)  # detected at T0 + 11 min
    assert new_marks(page(client, manager, when=T0 + 12 * MINUTE)) == [False, False]

    missed(1, at=T0 + HOUR)  # detected at T0 + 1 h 11 min
    later = T0 + 90 * MINUTE
    first = page(client, manager, when=later)
    assert new_marks(first) == [True, True, False, False]
    assert html(first).count('class="sla-new"') == 2
    # Reloading, filtering or paging within the same visit keeps the marks...
    assert new_marks(page(client, manager, when=later + 5 * MINUTE)) == [True] * 2 + [False] * 2
    assert new_marks(page(client, manager, when=later + 10 * MINUTE, metric="acknowledgement")) == [
        True,
        False,
    ]
    # ...and the next visit has seen them.
    assert (
        new_marks(page(client, manager, when=later + 10 * MINUTE + VISIT_GAP + MINUTE))
        == [False] * 4
    )


def test_each_manager_has_their_own_marks(client, people, structure):
    from tests.factories import make_agent

    other = make_agent(username="paolo", teams=(structure["management"],), manager=True)
    missed(1, at=T0)
    page(client, people["manager"], when=T0 + 12 * MINUTE)
    page(client, other, when=T0 + 12 * MINUTE)
    missed(1, at=T0 + HOUR)
    page(client, people["manager"], when=T0 + 90 * MINUTE)  # laura sees them now

    assert new_marks(page(client, other, when=T0 + 100 * MINUTE)) == [True, True, False, False]
    assert new_marks(page(client, people["manager"], when=T0 + 150 * MINUTE)) == [False] * 4


# --- Escaping, languages, cost -------------------------------------------------------------------


def test_user_content_is_escaped(client, people):
    tickets = open_tickets(1, at=T0, subject='<script>alert("x")</script>')
    sweep(T0 + 11 * MINUTE)
    people["agent"].first_name = "<b>Giulia</b>"
    people["agent"].save()
    tickets[0].assignee = people["agent"]
    tickets[0].save(update_fields=["assignee"])

    body = html(page(client, people["manager"]))

    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<b>Giulia" not in body


def test_the_page_follows_the_language(client, people):
    client.force_login(people["manager"])
    with time_machine.travel(T0, tick=False):
        response = client.get(URL, HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code == 200
    assert '<html lang="it">' in html(response)


def test_queries_do_not_grow_with_breaches(client, people):
    client.force_login(people["manager"])

    def count() -> tuple[int, int]:
        with (
            time_machine.travel(T0 + 20 * MINUTE, tick=False),
            CaptureQueriesContext(connection) as queries,
        ):
            response = client.get(URL, {"window": "today"})
        assert response.status_code == 200
        return len(queries), len(response.context["page"].object_list)

    missed(5)  # 10 breaches
    few, shown = count()
    assert shown == 10
    missed(45)  # 100 breaches
    many, shown = count()
    assert shown == 25  # one page
    assert many == few


# --- Ways in -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "linked"), [("agent", False), ("manager", True)])
def test_linked_from_the_admin_home_and_the_site_menu_for_managers(client, people, role, linked):
    client.force_login(people[role])
    admin_home = html(client.get("/admin/"))
    site = html(client.get("/"))
    assert (f'href="{URL}"' in admin_home) is linked
    assert (f'href="{URL}"' in site) is linked


def test_customers_have_no_link(client, people):
    client.force_login(people["customer"])
    assert URL not in html(client.get("/"))
