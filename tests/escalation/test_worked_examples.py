"""The support guide's three worked examples ("Esempi del mondo reale"), end to end: over the
REST API as customers and agents use it, and through the services where no endpoint exists
(the acknowledgement task's service, the beat's sweep). The clock is moved with time-machine;
every promise of the guide is checked at the end: acknowledged within 2 minutes, a person's
first answer within 10, resolved within the target, no breach recorded by the sweep.

1. "Perché mi è stato addebitato due volte?": the first line answers and resolves it, no
   escalation.
2. "Il mio VPS funziona lentamente": the first line asks for details and tries the basics, then
   passes it to the system administrators, who diagnose and resolve it; the customer is told at
   each step, in the same conversation and by email, in Italian.
3. "È possibile configurare un set di regole firewall personalizzato per il mio VPS?": the first
   line checks the details and passes it on; the system administrators give an estimate, apply
   the configuration and resolve it with a summary of the changes; the customer confirms.
"""

import datetime

import pytest
import time_machine
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from escalation.models import Escalation, Reason, RoutingRule
from sla.models import Breach, Clock
from sla.services.acknowledgement import acknowledgement_send
from sla.services.sweep import breaches_record
from teams.models import Team
from tests import factories
from tickets.models import Message, OutboundEmail, Ticket
from usecases.escalation import suggestion_for
from usecases.setup import support_setup

MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
# Monday 2 March 2026, 09:00 in Rome: the system administrators (08:00-22:00 CET) are at work.
MONDAY_9_ROME = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)


@pytest.fixture
def guide(db):
    """The guide's structure, SLA policy and routing rules, as `setup_support` makes them."""
    support_setup(now=MONDAY_9_ROME - datetime.timedelta(days=30))
    return {team.slug: team for team in Team.objects.all()}


@pytest.fixture
def l1(guide):
    return factories.make_agent(username="giulia", teams=(guide["support"],))


@pytest.fixture
def sysadmin(guide):
    return factories.make_agent(username="luca", teams=(guide["sysadmin"],))


@pytest.fixture
def chiara(guide):
    """A customer who writes in Italian, in Rome."""
    return factories.make_customer(username="chiara", language="it", first_name="Chiara")


class Scene:
    """One example's stage: the moving clock and a client per person."""

    def __init__(self, traveller, start: datetime.datetime):
        self.traveller = traveller
        self.start = start

    def at(self, delta: datetime.timedelta) -> datetime.datetime:
        moment = self.start + delta
        self.traveller.move_to(moment)
        return moment

    @staticmethod
    def client(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}")
        return client

    def post(self, user, path: str, payload: dict | None = None, status: int = 200) -> dict:
        response = self.client(user).post(f"/api/v1/{path}", payload or {}, format="json")
        assert response.status_code == status, response.json()
        return response.json()

    def get(self, user, path: str) -> dict:
        response = self.client(user).get(f"/api/v1/{path}")
        assert response.status_code == 200, response.json()
        return response.json()

    def open(self, customer, **fields) -> Ticket:
        body = self.post(customer, "tickets/", fields, status=201)
        return Ticket.objects.get(pk=body["id"])

    def reply(self, user, ticket: Ticket, body: str) -> dict:
        return self.post(user, f"tickets/{ticket.pk}/messages/", {"body": body}, status=201)

    def thread(self, user, ticket: Ticket) -> list[dict]:
        return self.get(user, f"tickets/{ticket.pk}/messages/?page_size=100")["results"]


@pytest.fixture
def scene():
    with time_machine.travel(MONDAY_9_ROME, tick=False) as traveller:
        yield Scene(traveller, MONDAY_9_ROME)


def every_promise_kept(ticket: Ticket, *, after: datetime.datetime) -> dict[str, Clock]:
    """Each clock met on time or set aside unbroken, and the sweep, run later, finds nothing
    missed. Returns the clocks that ended by being met, by metric (the last of each)."""
    assert breaches_record(now=after) == []
    assert not Breach.objects.filter(ticket=ticket).exists()
    met = {}
    for clock in Clock.objects.filter(ticket=ticket).order_by("started_at", "pk"):
        assert clock.breached_at is None, clock.metric
        if clock.met_at is not None:
            assert clock.met_at <= clock.due_at, clock.metric
            met[clock.metric] = clock
        else:
            assert clock.cancelled_at is not None, clock.metric
    assert {"acknowledgement", "first_response", "resolution"} <= set(met)
    return met


def customer_emails(ticket: Ticket) -> list[str]:
    return list(
        OutboundEmail.objects.filter(ticket=ticket, to=ticket.customer.email)
        .order_by("id")
        .values_list("purpose", flat=True)
    )


def rule_named(decision) -> str:
    return RoutingRule.objects.get(pk=decision.rule).name if decision.rule else ""


def test_example_1_a_double_charge_is_answered_and_resolved_by_the_first_line(scene, chiara, l1):
    question = "Perché mi è stato addebitato due volte?"
    ticket = scene.open(
        chiara,
        subject=question,
        body="Sulla fattura di marzo vedo due addebiti uguali per il mio VPS.",
        category="billing",
    )

    # The rules leave a billing question with the first line: no refund, no gateway.
    decision = suggestion_for(ticket=ticket, body=ticket.messages.get().body, now=scene.start)
    assert (decision.team, decision.suggested_team, decision.routed) == ("support", "", False)

    # "Risposta automatica in 2 minuti"
    acknowledgement_send(ticket_id=ticket.pk, now=scene.at(MINUTE))
    # "L'agente di supporto risponde entro 10 minuti"
    scene.at(7 * MINUTE)
    scene.post(l1, f"tickets/{ticket.pk}/assign/", {"assignee": None})
    scene.reply(
        l1,
        ticket,
        "Buongiorno Chiara, vedo due addebiti: il secondo è un'autorizzazione temporanea della "
        "banca, che verrà annullata entro 3 giorni lavorativi.",
    )
    scene.at(15 * MINUTE)
    scene.reply(chiara, ticket, "Grazie, quindi non devo fare nulla?")
    # "Problema risolto entro 30 minuti"
    scene.at(25 * MINUTE)
    resolved = scene.post(
        l1,
        f"tickets/{ticket.pk}/resolve/",
        {"summary": "Nessuna azione necessaria: l'autorizzazione duplicata scade da sola."},
    )
    assert (resolved["status"], resolved["team"]["slug"]) == ("resolved", "support")
    assert resolved["sla"]["resolution"]["met_at"] == "2026-03-02T08:25:00Z"
    closed = scene.post(chiara, f"tickets/{ticket.pk}/confirm/")
    assert closed["status"] == "closed"

    # "Non è necessaria l'escalation"
    assert not Escalation.objects.filter(ticket=ticket).exists()
    met = every_promise_kept(ticket, after=scene.at(3 * HOUR))
    assert met["acknowledgement"].met_at == scene.start + MINUTE
    assert met["first_response"].met_at == scene.start + 7 * MINUTE
    assert met["resolution"].due_at == scene.start + 30 * MINUTE
    kinds = [(m["kind"], m["author"] and m["author"]["name"]) for m in scene.thread(chiara, ticket)]
    assert kinds == [
        ("customer", "Chiara"),
        ("system", None),
        ("agent", "giulia"),
        ("customer", "Chiara"),
        ("agent", "giulia"),
    ]
    assert customer_emails(ticket) == ["acknowledgement", "reply", "resolution"]


def test_example_2_a_slow_vps_goes_to_the_system_administrators_and_is_resolved(
    scene, chiara, l1, sysadmin
):
    ticket = scene.open(
        chiara,
        subject="Il mio VPS funziona lentamente",
        body="Da stamattina il VPS vps-042 risponde lentamente, anche via SSH.",
        category="vps",
    )
    # The rules suggest the system administrators; the first line keeps first contact.
    decision = suggestion_for(ticket=ticket, body=ticket.messages.get().body, now=scene.start)
    assert (decision.team, decision.suggested_team, decision.reason, decision.routed) == (
        "support",
        "sysadmin",
        Reason.SERVER,
        False,
    )
    assert rule_named(decision) == "VPS and dedicated server problems"

    acknowledgement_send(ticket_id=ticket.pk, now=scene.at(MINUTE))
    # The first line answers within 10 minutes and asks for the details.
    scene.at(8 * MINUTE)
    scene.post(l1, f"tickets/{ticket.pk}/assign/", {"assignee": None})
    scene.reply(l1, ticket, "Da quando? Il carico (load average) e lo spazio su disco?")
    scene.at(20 * MINUTE)
    scene.reply(chiara, ticket, "Da stanotte; load 14, disco al 40%.")
    # The basics: a restart of the services, which does not help.
    scene.at(30 * MINUTE)
    scene.reply(l1, ticket, "Abbiamo riavviato i servizi del VPS: va meglio?")
    scene.at(40 * MINUTE)
    scene.reply(chiara, ticket, "No, è sempre lento.")

    # "Se non funziona, si passa agli amministratori di sistema."
    escalated_at = scene.at(45 * MINUTE)
    reason = "Il carico viene dall'host: servono la diagnostica e l'accesso degli amministratori."
    moved = scene.post(l1, f"tickets/{ticket.pk}/escalate/", {"team": "sysadmin", "reason": reason})
    assert moved["team"] == {"slug": "sysadmin", "name": "System administrators", "tier": 3}
    assert moved["assignee"] is None  # the administrators take it from their queue
    # The time already spent is kept: 45 of the 2 hours of a standard problem are gone.
    assert moved["sla"]["resolution"]["due_at"] == "2026-03-02T10:00:00Z"
    resolution = Clock.objects.get(ticket=ticket, metric="resolution", met_at=None)
    assert (resolution.team.slug, resolution.business) == ("sysadmin", True)
    assert resolution.due_at == escalated_at + 75 * MINUTE

    # The customer is told which team, why and what next, here and by email, in Italian.
    notice = scene.thread(chiara, ticket)[-1]
    assert (notice["kind"], notice["author"]) == ("system", None)
    for told in (
        f"La vostra richiesta {ticket.reference} è stata inoltrata al nostro team "
        "Amministratori di sistema",
        f"Perché: {reason}",
        "Cosa succede ora: uno specialista di questo team prende in mano la vostra richiesta",
        "Il team Amministratori di sistema è al lavoro in questo momento.",
    ):
        assert told in notice["body"]
    email = OutboundEmail.objects.filter(ticket=ticket, purpose="escalation").get()
    assert email.to == chiara.email
    assert f"Perché: {reason}" in email.body_text
    assert OutboundEmail.objects.filter(purpose="escalated", to=sysadmin.email).exists()

    # The administrators find it in their queue and take it over.
    scene.at(50 * MINUTE)
    queue = scene.get(sysadmin, "tickets/?team=sysadmin")["results"]
    assert [t["id"] for t in queue] == [ticket.pk]
    scene.post(sysadmin, f"tickets/{ticket.pk}/assign/", {"assignee": None})
    scene.at(55 * MINUTE)
    scene.reply(sysadmin, ticket, "Sono Luca, amministratore di sistema: avvio la diagnostica.")
    # "Gli amministratori eseguono la diagnostica (1-2 ore)"; "Il problema viene trovato e
    # risolto".
    scene.at(HOUR + 55 * MINUTE)
    resolved = scene.post(
        sysadmin,
        f"tickets/{ticket.pk}/resolve/",
        {
            "summary": "Un processo di backup sull'host saturava il disco: l'abbiamo spostato "
            "di notte e il VPS è tornato alla velocità normale."
        },
    )
    assert (resolved["status"], resolved["assignee"]["name"]) == ("resolved", "luca")
    scene.at(2 * HOUR)
    assert scene.post(chiara, f"tickets/{ticket.pk}/confirm/")["status"] == "closed"

    every_promise_kept(ticket, after=scene.at(5 * HOUR))
    # The customer was told at each step, in one conversation.
    thread = [
        (m["kind"], m["author"] and m["author"]["name"]) for m in scene.thread(chiara, ticket)
    ]
    assert thread == [
        ("customer", "Chiara"),
        ("system", None),
        ("agent", "giulia"),
        ("customer", "Chiara"),
        ("agent", "giulia"),
        ("customer", "Chiara"),
        ("system", None),
        ("agent", "luca"),
        ("agent", "luca"),
    ]
    assert customer_emails(ticket) == [
        "acknowledgement",
        "reply",
        "reply",
        "escalation",
        "reply",
        "resolution",
    ]
    record = Escalation.objects.get(ticket=ticket)
    assert (record.kind, record.by, record.reason) == ("agent", l1, reason)


def test_example_3_a_custom_firewall_rule_set_is_estimated_applied_and_confirmed(
    scene, guide, l1, sysadmin
):
    # An Italian customer whose servers, and own day, are in New York.
    customer = factories.make_customer(
        username="marco", language="it", first_name="Marco", timezone="America/New_York"
    )
    ticket = scene.open(
        customer,
        subject="È possibile configurare un set di regole firewall personalizzato per il mio VPS?",
        body="Vorrei aprire solo le porte 22, 80 e 443, con SSH solo dal mio ufficio.",
        category="vps",
    )
    # A firewall rule set is complex work for the system administrators, before the plain VPS
    # rule; the first line still answers first.
    decision = suggestion_for(ticket=ticket, body=ticket.messages.get().body, now=scene.start)
    assert (decision.team, decision.suggested_team, decision.reason, decision.routed) == (
        "support",
        "sysadmin",
        Reason.COMPLEX,
        False,
    )
    assert rule_named(decision) == "Firewall rule sets on a server"

    acknowledgement_send(ticket_id=ticket.pk, now=scene.at(MINUTE))
    # The first line answers within 10 minutes, examines the request and checks the details.
    scene.at(6 * MINUTE)
    scene.reply(l1, ticket, "Le regole valgono anche per IPv6? Qual è l'indirizzo dell'ufficio?")
    scene.at(15 * MINUTE)
    scene.reply(customer, ticket, "Sì, anche IPv6. Ufficio: 203.0.113.0/24.")
    # "Poiché richiede una configurazione avanzata, la richiesta viene inoltrata agli
    # amministratori di sistema."
    scene.at(20 * MINUTE)
    reason = "Una configurazione firewall su misura richiede gli amministratori di sistema."
    scene.post(l1, f"tickets/{ticket.pk}/escalate/", {"team": "sysadmin", "reason": reason})

    # The administrators give the estimate of a non-standard request: 20 minutes.
    estimated_at = scene.at(25 * MINUTE)
    scene.post(sysadmin, f"tickets/{ticket.pk}/assign/", {"assignee": None})
    estimated = scene.post(
        sysadmin,
        f"tickets/{ticket.pk}/estimate/",
        {"seconds": 20 * 60, "note": "Applichiamo le regole e verifichiamo l'accesso SSH."},
    )
    assert estimated["estimate_seconds"] == 1200
    assert estimated["sla"]["resolution"]["due_at"] == "2026-03-02T08:45:00Z"
    assert (
        Clock.objects.get(ticket=ticket, metric="resolution", met_at=None, cancelled_at=None).due_at
        == estimated_at + 20 * MINUTE
    )
    told = scene.thread(customer, ticket)[-1]
    assert told["kind"] == "system"
    # 08:45 UTC is 03:45 in New York: the customer reads their own time.
    assert (
        "prevediamo di risolverla entro lunedì 2 marzo alle 03:45 (ora America/New_York)"
        in (told["body"])
    )
    assert "Applichiamo le regole e verifichiamo l'accesso SSH." in told["body"]

    # "Gli amministratori valutano le regole e applicano la configurazione (10-20 minuti)";
    # "L'utente riceve una conferma e un riepilogo delle modifiche".
    scene.at(40 * MINUTE)
    summary = (
        "Regole applicate (IPv4 e IPv6): ingresso consentito su 80/tcp e 443/tcp da ovunque, "
        "22/tcp solo da 203.0.113.0/24; tutto il resto in ingresso è scartato. Configurazione "
        "salvata in /etc/nftables.conf e attiva al riavvio."
    )
    resolved = scene.post(sysadmin, f"tickets/{ticket.pk}/resolve/", {"summary": summary})
    assert resolved["status"] == "resolved"
    assert scene.thread(customer, ticket)[-1]["body"] == summary
    email = OutboundEmail.objects.filter(ticket=ticket, to=customer.email).latest("id")
    assert email.purpose == "resolution"
    assert "203.0.113.0/24" in email.body_text
    scene.at(HOUR)
    assert scene.post(customer, f"tickets/{ticket.pk}/confirm/")["status"] == "closed"

    met = every_promise_kept(ticket, after=scene.at(4 * HOUR))
    assert met["resolution"].target_seconds == 1200
    assert met["resolution"].met_at == scene.start + 40 * MINUTE
    assert customer_emails(ticket) == [
        "acknowledgement",
        "reply",
        "escalation",
        "estimate",
        "resolution",
    ]
    assert [m["kind"] for m in scene.thread(customer, ticket)] == [
        "customer",
        "system",
        "agent",
        "customer",
        "system",
        "system",
        "agent",
    ]
    assert Message.objects.filter(ticket=ticket, kind="internal").count() == 0
