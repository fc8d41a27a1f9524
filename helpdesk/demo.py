"""Demo data for a first look: the people of a hosting provider's support and the requests of
its support guide (charged twice, a slow VPS escalated to the system administrators, custom
firewall rules with an estimate, a credit for an outage waiting on management, a disk to replace
in Amsterdam on which the first line consults the data center...), each with a short story told
through the use cases; and two outages in Miami, one resolved weeks ago (the status page's
history) and one open now, its requests linked and its updates posted into their threads.

A story is a ticket opened some minutes before `now` and the steps that followed, each at its
own minute. A new kind of step is one more class with `minute` and `apply(ticket=, people=,
at=)` calling its use case, added to `Step`.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.services import customer_upsert
from teams.services import staff_upsert
from tickets.models import Category, Channel, Priority, Ticket
from usecases import incidents
from usecases.acknowledgement import ticket_acknowledge
from usecases.escalation import approval_request, ticket_consult, ticket_escalate, ticket_estimate
from usecases.setup import support_setup
from usecases.tickets import (
    ticket_assign,
    ticket_confirm,
    ticket_open,
    ticket_reply,
    ticket_resolve,
)

CUSTOMER_PASSWORD = "demo-customer"  # noqa: S105 (published demo logins)
AGENT_PASSWORD = "demo-agent"  # noqa: S105
MANAGER_PASSWORD = "demo-manager"  # noqa: S105
ADMIN_PASSWORD = "demo-admin"  # noqa: S105
ADMIN_USERNAME = "admin"
DEMO_EMAIL_DOMAIN = "example.com"  # reserved: a demo email never reaches anyone
# The automatic acknowledgement of a seeded ticket, well inside its promise.
ACKNOWLEDGED_AFTER = datetime.timedelta(seconds=40)

User = get_user_model()


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    password: str


DEMO_LOGINS = (
    DemoLogin("customer", "mario", CUSTOMER_PASSWORD),
    DemoLogin("agent", "giulia", AGENT_PASSWORD),
    DemoLogin("manager", "laura", MANAGER_PASSWORD),
    DemoLogin("admin", ADMIN_USERNAME, ADMIN_PASSWORD),
)


def demo_logins_present() -> tuple[DemoLogin, ...]:
    """The demo logins whose accounts exist (a database seeded by `demo_seed`)."""
    present = set(
        User.objects.filter(username__in=[login.username for login in DEMO_LOGINS]).values_list(
            "username", flat=True
        )
    )
    return tuple(login for login in DEMO_LOGINS if login.username in present)


@dataclass(frozen=True)
class Customer:
    username: str
    first_name: str
    last_name: str
    company: str
    language: str
    timezone: str


@dataclass(frozen=True)
class Staff:
    username: str
    first_name: str
    last_name: str
    teams: tuple[str, ...]
    manager: bool = False


CUSTOMERS = (
    Customer("mario", "Mario", "Rossi", "Rossi Ricambi Srl", "it", "Europe/Rome"),
    Customer("chiara", "Chiara", "Esposito", "Esposito Web Agency", "it", "Europe/Rome"),
    Customer("james", "James", "Whitfield", "Northwind Analytics Ltd", "en", "Europe/London"),
    Customer("sophie", "Sophie", "Jansen", "Brightline Media BV", "en", "Europe/Amsterdam"),
    Customer("emily", "Emily", "Carter", "Carter Logistics Inc.", "en", "America/New_York"),
)

STAFF = (
    Staff("giulia", "Giulia", "Bianchi", ("support",)),
    Staff("tom", "Tom", "Hughes", ("support",)),
    Staff("marco", "Marco", "Ferri", ("billing",)),
    Staff("sanne", "Sanne", "de Vries", ("datacenter-ams",)),
    Staff("carlos", "Carlos", "Rivera", ("datacenter-mia",)),
    Staff("luca", "Luca", "Moretti", ("sysadmin",)),
    Staff("priya", "Priya", "Nair", ("sysadmin",)),
    Staff("laura", "Laura", "Conti", ("management",), manager=True),
)


@dataclass(frozen=True)
class Reply:
    """Someone writes in the thread: the customer, or an agent (publicly or as a note)."""

    minute: int
    author: str
    body: str
    internal: bool = False
    wait_on_customer: bool = False

    def apply(self, *, ticket, people, at):
        ticket_reply(
            ticket_id=ticket.pk,
            author=people[self.author],
            body=self.body,
            channel=ticket.channel,
            now=at,
            internal=self.internal,
            wait_on_customer=self.wait_on_customer,
        )


@dataclass(frozen=True)
class Assign:
    minute: int
    agent: str

    def apply(self, *, ticket, people, at):
        ticket_assign(ticket_id=ticket.pk, actor=people[self.agent], assignee_id=None, now=at)


@dataclass(frozen=True)
class Resolve:
    minute: int
    agent: str
    summary: str

    def apply(self, *, ticket, people, at):
        ticket_resolve(ticket_id=ticket.pk, actor=people[self.agent], summary=self.summary, now=at)


@dataclass(frozen=True)
class Confirm:
    """The customer confirms the resolution and the ticket closes."""

    minute: int

    def apply(self, *, ticket, people, at):
        ticket_confirm(ticket_id=ticket.pk, customer=ticket.customer, now=at)


@dataclass(frozen=True)
class Escalate:
    """An agent passes the request to another team; the customer reads `reason` in the notice."""

    minute: int
    agent: str
    team: str
    reason: str

    def apply(self, *, ticket, people, at):
        ticket_escalate(
            ticket_id=ticket.pk,
            actor=people[self.agent],
            team=self.team,
            reason=self.reason,
            now=at,
        )


@dataclass(frozen=True)
class Consult:
    """An agent asks another team without passing the request on; it answers with a note."""

    minute: int
    agent: str
    team: str
    question: str

    def apply(self, *, ticket, people, at):
        ticket_consult(
            ticket_id=ticket.pk,
            actor=people[self.agent],
            team=self.team,
            note=self.question,
            now=at,
        )


@dataclass(frozen=True)
class Estimate:
    minute: int
    agent: str
    hours: int
    note: str

    def apply(self, *, ticket, people, at):
        ticket_estimate(
            ticket_id=ticket.pk,
            actor=people[self.agent],
            seconds=self.hours * 3600,
            note=self.note,
            now=at,
        )


@dataclass(frozen=True)
class AskApproval:
    minute: int
    agent: str
    kind: str
    reason: str
    amount: Decimal | None = None
    currency: str = ""

    def apply(self, *, ticket, people, at):
        approval_request(
            ticket_id=ticket.pk,
            actor=people[self.agent],
            kind=self.kind,
            reason=self.reason,
            amount=self.amount,
            currency=self.currency,
            now=at,
        )


Step = Reply | Assign | Resolve | Confirm | Escalate | Consult | Estimate | AskApproval


@dataclass(frozen=True)
class Story:
    customer: str
    channel: str
    category: str
    subject: str
    body: str
    # Minutes before `now`; every step happens at a minute after opening and before `now`.
    opened_minutes_ago: int
    priority: str = Priority.NORMAL
    data_center: str = ""
    steps: tuple[Step, ...] = ()


STORIES = (
    Story(
        customer="mario",
        channel=Channel.WEB,
        category=Category.BILLING,
        subject="Addebito doppio sulla fattura di novembre",
        body=(
            "Buongiorno,\nperché mi è stato addebitato due volte? Sull'estratto conto della carta "
            "vedo due addebiti da 49,00 € per la fattura del VPS di novembre, a pochi minuti "
            "l'uno dall'altro.\nGrazie,\nMario Rossi"
        ),
        opened_minutes_ago=95,
        steps=(
            Assign(minute=4, agent="giulia"),
            Reply(
                minute=6,
                author="giulia",
                body=(
                    "Buongiorno Mario, ho verificato: il gateway di pagamento ha registrato due "
                    "volte lo stesso pagamento. Ho avviato il rimborso del secondo addebito; "
                    "le confermo appena risulta eseguito."
                ),
            ),
            Resolve(
                minute=24,
                agent="giulia",
                summary=(
                    "Il rimborso di 49,00 € è stato eseguito: lo vedrà sulla carta entro 3-5 "
                    "giorni lavorativi. La fattura di novembre risulta pagata una sola volta."
                ),
            ),
            Confirm(minute=31),
        ),
    ),
    Story(
        customer="james",
        channel=Channel.EMAIL,
        category=Category.VPS,
        subject="My VPS is running slowly",
        body=(
            "Hello,\nsince this morning our VPS (vps-lon-5512) is very slow: pages take 10 "
            "seconds to load and SSH sessions lag. We have not changed anything on our side.\n"
            "Regards,\nJames Whitfield\nNorthwind Analytics"
        ),
        opened_minutes_ago=130,
        steps=(
            Assign(minute=3, agent="tom"),
            Reply(
                minute=7,
                author="tom",
                body=(
                    "Hi James, thanks for the details. Could you send us the output of `top` "
                    "and `iostat -x 5 3` taken while it is slow? Meanwhile I am checking the "
                    "host your VPS runs on."
                ),
                wait_on_customer=True,
            ),
            Reply(
                minute=21,
                author="james",
                body=(
                    "Here it is: load average 6.2 on 2 vCPUs, and iowait between 40 and 60% "
                    "on vda. Nothing unusual is running, MySQL is mostly idle."
                ),
            ),
            Reply(
                minute=26,
                author="tom",
                internal=True,
                body=(
                    "High iowait, guest is idle: looks like contention on the host's storage. "
                    "Basic checks done; this is one for the system administrators."
                ),
            ),
            Escalate(
                minute=27,
                agent="tom",
                team="sysadmin",
                reason=(
                    "your VPS is waiting on the disks of the server it runs on (high iowait "
                    "while your own system is idle). Our system administrators can examine "
                    "that server's storage and move your VPS if needed."
                ),
            ),
            Assign(minute=33, agent="luca"),
            Reply(
                minute=36,
                author="luca",
                body=(
                    "Hi James, Luca from the system administrators here. I see a RAID rebuild "
                    "slowing down the storage of your host; I am moving your VPS to another "
                    "host with live migration, without a reboot. I will write again when done."
                ),
            ),
        ),
    ),
    Story(
        customer="chiara",
        channel=Channel.CHAT,
        category=Category.CUSTOM_CONFIG,
        subject="Regole firewall personalizzate per il VPS",
        body=(
            "Ciao, è possibile configurare un set di regole firewall personalizzato per il mio "
            "VPS? Vorrei aprire la 443 a tutti e la 22 solo dall'IP del nostro ufficio."
        ),
        opened_minutes_ago=38,
        steps=(
            Assign(minute=1, agent="giulia"),
            Reply(
                minute=2,
                author="giulia",
                body=(
                    "Ciao Chiara, certo. Mi scrivi l'IP pubblico del vostro ufficio e se "
                    "servono altre porte (per esempio 80 per il rinnovo dei certificati)?"
                ),
            ),
            Reply(
                minute=4,
                author="chiara",
                body="L'IP è 203.0.113.24. Sì, anche la 80 aperta a tutti, grazie!",
            ),
            Escalate(
                minute=6,
                agent="giulia",
                team="sysadmin",
                reason=(
                    "un set di regole firewall personalizzato è una configurazione su misura: "
                    "lo preparano i nostri amministratori di sistema, che lo provano prima di "
                    "applicarlo."
                ),
            ),
            Assign(minute=9, agent="luca"),
            Estimate(
                minute=11,
                agent="luca",
                hours=2,
                note=(
                    "Scriviamo le regole (443 e 80 aperte a tutti, 22 solo da 203.0.113.24), le "
                    "proviamo su una copia del vostro VPS e poi le applichiamo: il sito resta "
                    "online. Vi mandiamo il riepilogo delle modifiche."
                ),
            ),
        ),
    ),
    Story(
        customer="emily",
        channel=Channel.API,
        category=Category.BILLING_CREDIT,
        subject="Service credit for the outage of 18 November",
        body=(
            "Our monitoring recorded server mia-ded-2231 unreachable from 02:14 to 04:51 UTC on "
            "18 November (2 h 37 min). Under our SLA we would like to request a service credit "
            "for that month. Incident timeline attached to our status page."
        ),
        opened_minutes_ago=170,
        steps=(
            Assign(minute=5, agent="tom"),
            Reply(
                minute=7,
                author="tom",
                body=(
                    "Hi Emily, I can confirm the outage: a power feed failure in the Miami data "
                    "center affected your rack. A credit needs the approval of our management: "
                    "I am asking for it now, and you will read the decision here."
                ),
            ),
            AskApproval(
                minute=9,
                agent="tom",
                kind="billing_credit",
                amount=Decimal("44.90"),
                currency="USD",
                reason=(
                    "mia-ded-2231 unreachable for 2 h 37 min on 18 November (power feed failure "
                    "in Miami, confirmed by our monitoring). SLA credit: 10% of the monthly fee "
                    "of 449.00 USD."
                ),
            ),
        ),
    ),
    Story(
        customer="sophie",
        channel=Channel.EMAIL,
        category=Category.DATACENTER,
        subject="Failing disk on our dedicated server in Amsterdam",
        body=(
            "Hi,\nSMART reports 312 reallocated sectors on /dev/sdb of ams-ded-1187 and the "
            "RAID 1 array is degraded. Could you replace the disk? Any time today works for us; "
            "the server can stay online (hot-swap bays).\nThanks,\nSophie Jansen"
        ),
        opened_minutes_ago=47,
        priority=Priority.HIGH,
        data_center="ams",
        steps=(
            Assign(minute=2, agent="giulia"),
            Reply(
                minute=5,
                author="giulia",
                body=(
                    "Hi Sophie, thank you: I have confirmed the errors on sdb. I am asking our "
                    "Amsterdam data center technicians when they can swap it on site."
                ),
            ),
            Consult(
                minute=6,
                agent="giulia",
                team="datacenter-ams",
                question=(
                    "ams-ded-1187: 312 reallocated sectors on sdb, RAID 1 degraded, hot-swap "
                    "bays. Can you swap the disk today, and at what time?"
                ),
            ),
            Reply(
                minute=18,
                author="sanne",
                internal=True,
                body=(
                    "Yes, we have a spare of that model. I swap sdb at 14:00 CET; the rebuild "
                    "takes about 3 hours, the server stays online."
                ),
            ),
            Reply(
                minute=21,
                author="giulia",
                body=(
                    "Our Amsterdam technicians will swap the disk today at 14:00 CET, with the "
                    "server online. The RAID then rebuilds in about 3 hours; I will confirm "
                    "when it is complete."
                ),
            ),
        ),
    ),
    Story(
        customer="emily",
        channel=Channel.WEB,
        category=Category.NETWORK,
        subject="Packet loss to our servers in Miami",
        body=(
            "Since a few minutes ago we see 15-20% packet loss from our offices in Atlanta to "
            "both our servers in Miami (mia-ded-2231 and mia-ded-2232). mtr shows the loss "
            "starting at the second hop inside your network."
        ),
        opened_minutes_ago=4,
        priority=Priority.HIGH,
        data_center="mia",
    ),
    Story(
        customer="james",
        channel=Channel.EMAIL,
        category=Category.NETWORK,
        subject="Backup server in Miami unreachable",
        body=(
            "Hello,\nour nightly backup to mia-ded-1187 failed: the server answers one ping in "
            "five. Is something going on in Miami?\nJames"
        ),
        opened_minutes_ago=2,
        data_center="mia",
    ),
    Story(
        customer="mario",
        channel=Channel.EMAIL,
        category=Category.ACCESS,
        subject="Non riesco ad accedere al pannello di controllo",
        body=(
            "Buongiorno, da stamattina il pannello mi dice che la password non è corretta, ma "
            "sono sicuro che sia giusta. Il recupero password non mi manda nessuna email."
        ),
        opened_minutes_ago=1,
    ),
)


@dataclass(frozen=True)
class PublicUpdate:
    minutes_ago: int
    status: str
    body: str


@dataclass(frozen=True)
class Outage:
    """An incident opened by `lead`, with the requests of its site from the last
    `link_minutes` linked by hand, then its public updates, each fanned out at once."""

    title: str
    description: str
    data_center: str
    service: str
    lead: str
    started_minutes_ago: int
    updates: tuple[PublicUpdate, ...]
    link_minutes: int = 0


OUTAGES = (
    Outage(
        title="Power outage in Miami",
        description=(
            "A utility power failure hit our Miami data center; part of the dedicated servers "
            "and VPS hosts there lost power."
        ),
        data_center="mia",
        service="Dedicated servers and VPS",
        lead="tom",
        started_minutes_ago=19 * 24 * 60,
        updates=(
            PublicUpdate(
                19 * 24 * 60 - 12,
                "identified",
                "The generators did not take the full load after the utility failure. "
                "Electricians are on site.",
            ),
            PublicUpdate(
                19 * 24 * 60 - 95,
                "monitoring",
                "Power is restored. Servers are booting rack by rack; we are watching them.",
            ),
            PublicUpdate(
                19 * 24 * 60 - 160,
                "resolved",
                "Every server is back online. Customers affected will receive a service credit "
                "as our terms provide.",
            ),
        ),
    ),
    Outage(
        title="Packet loss on the Miami network",
        description=(
            "Some customers see packet loss towards servers in our Miami data center. We are on it."
        ),
        data_center="mia",
        service="Network",
        lead="tom",
        started_minutes_ago=3,
        link_minutes=10,
        updates=(
            PublicUpdate(
                3,
                "investigating",
                "Several customers report 10-20% packet loss to Miami. Our network engineers "
                "are checking the core routers.",
            ),
            PublicUpdate(
                1,
                "identified",
                "A faulty line card on one of the Miami core routers drops packets. We are "
                "moving traffic to the redundant router.",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Seeded:
    customers: int
    staff: int
    tickets: int


def demo_people() -> dict[str, AbstractBaseUser]:
    """Every demo person by username, created or updated."""
    people = {}
    for customer in CUSTOMERS:
        people[customer.username] = customer_upsert(
            username=customer.username,
            email=f"{customer.username}@{DEMO_EMAIL_DOMAIN}",
            password=CUSTOMER_PASSWORD,
            language=customer.language,
            first_name=customer.first_name,
            last_name=customer.last_name,
            company=customer.company,
            timezone=customer.timezone,
        )
    for staff in STAFF:
        people[staff.username], _created = staff_upsert(
            username=staff.username,
            password=MANAGER_PASSWORD if staff.manager else AGENT_PASSWORD,
            teams=staff.teams,
            manager=staff.manager,
            email=f"{staff.username}@{DEMO_EMAIL_DOMAIN}",
            first_name=staff.first_name,
            last_name=staff.last_name,
        )
    people[ADMIN_USERNAME] = demo_admin_ensure()
    return people


def demo_admin_ensure() -> AbstractBaseUser:
    """The demo's superuser, unless an account of that name exists (it is left alone).

    Admins are made the Django way (`createsuperuser`): no product service makes them.
    """
    admin = User.objects.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        admin = User.objects.create_superuser(
            username=ADMIN_USERNAME,
            email=f"{ADMIN_USERNAME}@{DEMO_EMAIL_DOMAIN}",
            password=ADMIN_PASSWORD,
        )
    return admin


def story_tell(*, story: Story, people: Mapping[str, AbstractBaseUser], now: datetime.datetime):
    opened = now - datetime.timedelta(minutes=story.opened_minutes_ago)
    ticket = ticket_open(
        customer=people[story.customer],
        subject=story.subject,
        body=story.body,
        category=story.category,
        channel=story.channel,
        priority=story.priority,
        data_center=story.data_center,
        now=opened,
    )
    # Acknowledged as the worker would have done then; a ticket opened within that time is
    # left to the real worker, so a first look shows the acknowledgement arrive.
    if opened + ACKNOWLEDGED_AFTER <= now:
        ticket_acknowledge(ticket_id=ticket.pk, now=opened + ACKNOWLEDGED_AFTER)
    for step in story.steps:
        step.apply(
            ticket=ticket, people=people, at=opened + datetime.timedelta(minutes=step.minute)
        )
    return ticket


def outage_open(*, outage: Outage, people: Mapping[str, AbstractBaseUser], now: datetime.datetime):
    started = now - datetime.timedelta(minutes=outage.started_minutes_ago)
    incident = incidents.incident_open(
        actor=people[outage.lead],
        title=outage.title,
        description=outage.description,
        data_center=outage.data_center,
        service=outage.service,
        now=started,
    )
    if outage.link_minutes:
        already_in = Ticket.objects.filter(
            data_center=outage.data_center,
            created_at__gte=started - datetime.timedelta(minutes=outage.link_minutes),
            created_at__lte=started,
        )
        incidents.tickets_link(
            incident_id=incident.pk,
            actor=people[outage.lead],
            ticket_ids=list(already_in.values_list("pk", flat=True)),
            now=started,
        )
    return incident


def update_post(*, incident, update: PublicUpdate, lead: AbstractBaseUser, now: datetime.datetime):
    """Posted, then fanned out in this process as the worker would have done then."""
    at = now - datetime.timedelta(minutes=update.minutes_ago)
    incidents.incident_update(
        incident_id=incident.pk, actor=lead, body=update.body, status=update.status, now=at
    )
    while incidents.fanout_batch(now=at):
        pass


def timeline_tell(*, people: Mapping[str, AbstractBaseUser], now: datetime.datetime) -> None:
    """Stories and outages in the order they happened, so that a request arriving while an
    outage is open is linked to it and told so."""
    events = [(story.opened_minutes_ago, story) for story in STORIES]
    for outage in OUTAGES:
        events.append((outage.started_minutes_ago, outage))
        events.extend((update.minutes_ago, (outage, update)) for update in outage.updates)
    opened = {}
    for _minutes_ago, event in sorted(events, key=lambda pair: -pair[0]):
        if isinstance(event, Story):
            story_tell(story=event, people=people, now=now)
        elif isinstance(event, Outage):
            opened[event] = outage_open(outage=event, people=people, now=now)
        else:
            outage, update = event
            update_post(incident=opened[outage], update=update, lead=people[outage.lead], now=now)


def demo_seed(*, now: datetime.datetime) -> Seeded | None:
    """Seed the demo on a database without tickets; with tickets, do nothing (None)."""
    with transaction.atomic():
        if Ticket.objects.exists():
            return None
        # The whole set-up, routing rules included: the desk shows their suggestions.
        support_setup(now=now)
        people = demo_people()
        timeline_tell(people=people, now=now)
    return Seeded(customers=len(CUSTOMERS), staff=len(STAFF), tickets=len(STORIES))
