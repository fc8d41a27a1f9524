"""Email in, through `mailin.filing.email_receive`: every path a message can take."""

import datetime

import hypothesis
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from hypothesis import strategies as st

from accounts.services import customer_upsert
from mailin import content as email_content
from mailin import filing as email_in
from mailin import headers as email_headers
from sla.services.acknowledgement import acknowledgement_send
from teams.models import Team
from tests.factories import PASSWORD, make_agent
from tests.mailin.mails import AUTHSERV_ID, PDF, PNG, dmarc, mail, message_id
from tickets.models import Attachment, InboundEmail, Message, OutboundEmail, Status, Ticket
from tickets.reply_address import reply_address_for
from usecases.tickets import ticket_confirm, ticket_resolve

User = get_user_model()
NOW = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(minutes=5)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("structure")]
# What the MTA in front says of mail from example.com once SPF, DKIM and DMARC passed.
PASS = dmarc("pass")


@pytest.fixture(autouse=True)
def trusted_mta(settings):
    settings.EMAIL_AUTHSERV_ID = AUTHSERV_ID


def receive(raw: bytes, now: datetime.datetime = NOW) -> email_in.Outcome:
    return email_in.email_receive(raw=raw, now=now)


def make_customer(*, username: str, email: str | None = None, language: str = "en"):
    email = email or f"{username}@example.com"
    return customer_upsert(username=username, email=email, password=PASSWORD, language=language)


@pytest.fixture
def mario():
    return make_customer(username="mario", email="Mario.Rossi@example.com")


def opened_by(customer, **mail_fields) -> Ticket:
    outcome = receive(mail(sender=f"Mario Rossi <{customer.email}>", **mail_fields))
    assert outcome.result == email_in.OPENED, outcome
    return outcome.ticket


# --- New tickets -----------------------------------------------------------------------------


def test_a_known_customer_opens_a_ticket_by_email(mario):
    mid = message_id()

    outcome = receive(mail(sender="Mario Rossi <mario.rossi@EXAMPLE.com>", msgid=mid))

    assert outcome.result == email_in.OPENED and outcome.filed
    ticket = outcome.ticket
    assert (ticket.customer, ticket.channel, ticket.category) == (mario, "email", "other")
    assert ticket.subject == "My server does not boot"
    assert ticket.team.slug == "support" and ticket.status == Status.NEW
    first = ticket.messages.get()
    assert (first.kind, first.channel, first.author) == ("customer", "email", mario)
    assert first.body == "It stopped answering after a reboot."
    assert first.email_message_id == mid
    assert str(outcome) == f"opened {ticket.reference}"


def test_a_message_without_subject_gets_one(mario):
    ticket = opened_by(mario, subject=None)

    assert ticket.subject == "(no subject)"


def test_a_long_folded_subject_becomes_one_line_that_fits(mario):
    ticket = opened_by(mario, subject="Disk  full " + "x " * 150)

    assert ticket.subject.startswith("Disk full x x") and "\n" not in ticket.subject
    assert len(ticket.subject) == 200


# --- Replies join their thread ---------------------------------------------------------------


def test_a_reply_with_the_reference_in_the_subject_joins_the_thread(mario):
    ticket = opened_by(mario)

    outcome = receive(
        mail(sender=mario.email, subject=f"Re: [{ticket.reference}] help", headers=(PASS,)), LATER
    )

    assert outcome.result == email_in.REPLIED and outcome.ticket == ticket
    reply = ticket.messages.order_by("id").last()
    assert (reply.kind, reply.channel, reply.author) == ("customer", "email", mario)
    assert Ticket.objects.count() == 1


def test_a_bare_reference_in_the_subject_is_enough(mario):
    ticket = opened_by(mario)

    outcome = receive(
        mail(sender=mario.email, subject=f"about {ticket.reference} again", headers=(PASS,)),
        LATER,
    )

    assert outcome.ticket == ticket and outcome.result == email_in.REPLIED


def test_a_reply_to_our_acknowledgement_joins_by_in_reply_to(mario):
    ticket = opened_by(mario)
    acknowledgement_send(ticket_id=ticket.pk, now=NOW)
    ours = OutboundEmail.objects.get(ticket=ticket, purpose="acknowledgement")

    outcome = receive(
        mail(
            sender=mario.email,
            subject="Re: thanks",
            headers=(("In-Reply-To", ours.rfc_message_id),),
        ),
        LATER,
    )

    assert outcome.result == email_in.REPLIED and outcome.ticket == ticket


def test_references_naming_the_thread_id_join_the_thread(mario):
    ticket = opened_by(mario)
    references = f"<unknown@elsewhere.example> <{ticket.reference}@introserv.com>"

    outcome = receive(
        mail(
            sender=mario.email,
            subject="no reference",
            headers=(("References", references), PASS),
        ),
        LATER,
    )

    assert outcome.result == email_in.REPLIED and outcome.ticket == ticket


def test_a_reply_to_the_customers_own_first_email_joins_by_its_message_id(mario):
    first = message_id()
    ticket = opened_by(mario, msgid=first)

    outcome = receive(
        mail(sender=mario.email, subject="forgot", headers=(("In-Reply-To", first), PASS)), LATER
    )

    assert outcome.result == email_in.REPLIED and outcome.ticket == ticket


def test_somebody_elses_reference_or_message_id_opens_a_new_ticket(mario):
    other = make_customer(username="eve")
    theirs = opened_by(other)
    acknowledgement_send(ticket_id=theirs.pk, now=NOW)
    their_mail = OutboundEmail.objects.get(ticket=theirs)

    outcome = receive(
        mail(
            sender=mario.email,
            subject=f"Re: [{theirs.reference}] forwarded to me",
            headers=(("In-Reply-To", their_mail.rfc_message_id), PASS),
        ),
        LATER,
    )

    assert outcome.result == email_in.OPENED and outcome.ticket != theirs
    assert outcome.ticket.customer == mario
    assert theirs.messages.filter(author=mario).count() == 0


def test_a_reply_to_a_resolved_ticket_reopens_it(mario):
    ticket = opened_by(mario)
    agent = make_agent(teams=(Team.objects.get(slug="support"),))
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Rebooted the host.", now=NOW)

    outcome = receive(
        mail(sender=mario.email, subject=f"Re: [{ticket.reference}]", headers=(PASS,)), LATER
    )

    assert outcome.result == email_in.REPLIED
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_a_reply_to_a_closed_ticket_opens_a_new_one_that_mentions_it(mario):
    ticket = opened_by(mario)
    agent = make_agent(teams=(Team.objects.get(slug="support"),))
    ticket_resolve(ticket_id=ticket.pk, actor=agent, summary="Rebooted the host.", now=NOW)
    ticket_confirm(ticket_id=ticket.pk, customer=mario, now=NOW)

    outcome = receive(
        mail(
            sender=mario.email,
            subject=f"Re: [{ticket.reference}] My server",
            body="Down again.",
            headers=(PASS,),
        ),
        LATER,
    )

    assert outcome.result == email_in.OPENED and outcome.ticket != ticket
    assert outcome.ticket.subject == "My server"
    body = outcome.ticket.messages.get().body
    assert body == f"This continues {ticket.reference}, which is closed.\n\nDown again."
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED and ticket.messages.filter(kind="customer").count() == 1


@pytest.mark.parametrize("active", [True, False])
def test_mail_from_a_staff_address_is_held_never_an_agent_reply(mario, caplog, active):
    ticket = opened_by(mario)
    agent = make_agent(teams=(Team.objects.get(slug="support"),))
    User.objects.filter(pk=agent.pk).update(email="Giulia@Introserv.com", is_active=active)
    raw = mail(
        sender="Giulia <giulia@introserv.com>",
        subject=f"Re: [{ticket.reference}]",
        body="We rebooted it.",
        headers=(dmarc("pass", "introserv.com"),),
    )

    outcome = receive(raw, LATER)

    assert (outcome.result, outcome.code, outcome.ticket) == (email_in.HELD, "staff_sender", None)
    assert list(ticket.messages.values_list("kind", flat=True)) == ["customer"]
    assert not OutboundEmail.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    held = InboundEmail.objects.get(state="held")
    assert (held.reason, held.sender, bytes(held.raw)) == (
        "staff_sender",
        "giulia@introserv.com",
        raw,
    )
    assert "giulia@introserv.com held for review (staff_sender)" in caplog.text
    assert [r.levelname for r in caplog.records if "held for review" in r.message] == ["WARNING"]


def test_a_second_delivery_of_the_same_message_is_filed_once(mario):
    raw = mail(sender=mario.email)

    first, second = receive(raw), receive(raw, LATER)

    assert first.result == email_in.OPENED
    assert (second.result, second.code) == (email_in.IGNORED, "duplicate")
    assert Ticket.objects.count() == 1
    assert InboundEmail.objects.get().ticket == first.ticket


# --- A From header proves nothing: who proved what --------------------------------------------


def test_an_unproven_reference_opens_a_ticket_that_names_it_and_leaves_the_thread_alone(mario):
    ticket = opened_by(mario)

    outcome = receive(
        mail(sender=mario.email, subject=f"Re: [{ticket.reference}] help", body="Reset it."),
        LATER,
    )

    assert (outcome.result, outcome.proven) == (email_in.OPENED, False)
    assert outcome.ticket != ticket and outcome.ticket.customer == mario
    assert outcome.ticket.subject == "help"
    assert outcome.ticket.messages.get().body == (
        f"This may continue {ticket.reference}. The sender could not be verified, so the "
        "message was not added to that request.\n\nReset it."
    )
    assert ticket.messages.count() == 1


def test_without_a_trusted_authserv_id_no_verdict_counts(mario, settings):
    ticket = opened_by(mario)
    settings.EMAIL_AUTHSERV_ID = ""

    passed = receive(mail(sender=mario.email, subject=ticket.reference, headers=(PASS,)), LATER)
    failed = receive(mail(sender=mario.email, headers=(dmarc("fail"),)), LATER)

    assert passed.result == failed.result == email_in.OPENED
    assert passed.ticket != ticket and not passed.proven


def test_dmarc_fail_holds_the_mail_with_its_raw_message(mario):
    ticket = opened_by(mario)
    raw = mail(sender=mario.email, subject=ticket.reference, headers=(dmarc("fail"),))

    first, again = receive(raw, LATER), receive(raw, LATER)

    assert (first.result, first.code) == (email_in.HELD, "dmarc_fail")
    assert (again.result, again.code) == (email_in.IGNORED, "duplicate")
    held = InboundEmail.objects.get(state="held")
    assert bytes(held.raw) == raw and held.sender == mario.email
    assert ticket.messages.count() == 1 and Ticket.objects.count() == 1


def test_the_signed_reply_address_files_as_its_user_whatever_the_from(mario):
    ticket = opened_by(mario)
    address = reply_address_for(ticket_id=ticket.pk, user_id=mario.pk)

    outcome = email_in.email_receive(
        raw=mail(sender="Mario at home <mario@home.example>", subject="Re: thanks", to=address),
        now=LATER,
        recipients=["support@introserv.com", address],
    )

    assert (outcome.result, outcome.ticket, outcome.proven) == (email_in.REPLIED, ticket, True)
    assert ticket.messages.order_by("id").last().author == mario
    assert not User.objects.filter(email="mario@home.example").exists()
    assert InboundEmail.objects.order_by("id").last().recipients == (
        f"support@introserv.com\n{address}"
    )


def test_the_reply_address_of_a_disabled_user_files_nothing_in_the_thread(mario):
    ticket = opened_by(mario)
    address = reply_address_for(ticket_id=ticket.pk, user_id=mario.pk)
    User.objects.filter(pk=mario.pk).update(is_active=False)

    outcome = email_in.email_receive(
        raw=mail(sender="someone@elsewhere.example"), now=LATER, recipients=[address]
    )

    assert outcome.result == email_in.OPENED and outcome.ticket.customer != mario
    assert ticket.messages.count() == 1


def test_a_reply_address_of_another_ticket_joins_that_ticket_only(mario):
    mine, other = opened_by(mario), opened_by(mario)
    address = reply_address_for(ticket_id=other.pk, user_id=mario.pk)

    outcome = email_in.email_receive(
        raw=mail(sender=mario.email, subject=f"Re: [{mine.reference}]", headers=(PASS,)),
        now=LATER,
        recipients=[address],
    )

    assert outcome.ticket == other and mine.messages.count() == 1


def test_our_email_to_another_address_proves_nothing(mario):
    ticket = opened_by(mario)
    acknowledgement_send(ticket_id=ticket.pk, now=NOW)
    ours = OutboundEmail.objects.get(ticket=ticket)
    OutboundEmail.objects.filter(pk=ours.pk).update(to="old.address@example.com")
    answer = mail(sender=mario.email, headers=(("In-Reply-To", ours.rfc_message_id),))

    unproven = receive(answer, LATER)
    proven = receive(
        mail(sender=mario.email, headers=(("In-Reply-To", ours.rfc_message_id), PASS)), LATER
    )

    assert unproven.result == email_in.OPENED and unproven.ticket != ticket
    assert (proven.result, proven.ticket) == (email_in.REPLIED, ticket)


def test_every_mail_that_gets_here_is_recorded(mario):
    filed = receive(mail(sender=mario.email))
    receive(mail(sender=mario.email, headers=(("Auto-Submitted", "auto-replied"),)))
    receive(b"From: not an address\r\n\r\nbody\r\n")

    assert sorted(InboundEmail.objects.values_list("state", "reason", "ticket")) == [
        ("filed", "", filed.ticket.pk),
        ("ignored", "auto_reply", None),
        ("refused", "malformed", None),
    ]
    assert not InboundEmail.objects.filter(raw__isnull=False).exists()


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (f"{AUTHSERV_ID}; dmarc=pass header.from=example.com", "pass"),
        (f"{AUTHSERV_ID.upper()} 1; DMARC = Pass (p=none) header.from=Example.COM", "pass"),
        (f"{AUTHSERV_ID}; dmarc=pass", "pass"),
        (f"{AUTHSERV_ID}; dmarc=fail (p=reject) header.from=example.com", "fail"),
        (
            f'{AUTHSERV_ID}; spf=pass (dmarc=fail) smtp.mailfrom=example.com; dmarc=pass header.from="example.com"',
            "pass",
        ),
        (f"{AUTHSERV_ID}; dmarc=pass header.from=attacker.example", ""),
        (f"{AUTHSERV_ID}; dmarc=none header.from=example.com", ""),
        (f"{AUTHSERV_ID}; none", ""),
        (f"{AUTHSERV_ID}.attacker.example; dmarc=pass header.from=example.com", ""),
        ("mx.attacker.example; dmarc=pass header.from=example.com", ""),
        (f"{AUTHSERV_ID};;; dmarc=", ""),
    ],
)
def test_the_dmarc_verdict_is_read_from_the_trusted_mta_only(header, verdict):
    msg = email_headers.mail_parse(
        mail(sender="mario@example.com", headers=(("Authentication-Results", header),))
    )

    assert msg.dmarc == verdict


def test_one_trusted_failure_outweighs_a_pass():
    raw = mail(sender="mario@example.com", headers=(dmarc("pass"), dmarc("fail")))

    assert email_headers.mail_parse(raw).dmarc == "fail"


# --- Unknown senders -------------------------------------------------------------------------


def test_an_unknown_sender_gets_a_customer_account_in_their_language():
    outcome = receive(
        mail(
            sender="Anna Bianchi <Anna.Bianchi+hd@example.it>",
            headers=(("Content-Language", "it-IT"),),
        )
    )

    assert outcome.result == email_in.OPENED
    anna = outcome.ticket.customer
    assert (anna.username, anna.email) == ("anna.bianchi+hd", "Anna.Bianchi+hd@example.it")
    assert (anna.first_name, anna.last_name) == ("Anna", "Bianchi")
    assert not anna.is_staff and not anna.has_usable_password()
    assert anna.customer_profile.language == "it"
    again = receive(mail(sender="anna.bianchi+HD@example.it"), LATER)
    assert again.ticket.customer == anna and User.objects.count() == 1


def test_usernames_of_new_senders_never_collide_with_existing_accounts():
    existing = make_customer(username="info", email="info@first.example")

    outcome = receive(mail(sender="info@second.example"))

    newcomer = outcome.ticket.customer
    assert newcomer != existing and newcomer.username == "info2"
    existing.refresh_from_db()
    assert existing.email == "info@first.example"


def test_an_unusual_address_gets_a_safe_username():
    outcome = receive(mail(sender="<'--!!@example.com>"))

    assert outcome.ticket.customer.username == "customer"
    assert outcome.ticket.customer.customer_profile.language == "en"


@override_settings(EMAIL_UNKNOWN_SENDERS="reject")
def test_unknown_senders_are_refused_when_so_configured(mario):
    outcome = receive(mail(sender="stranger@example.net"))

    assert (outcome.result, outcome.code) == (email_in.REFUSED, email_in.UNKNOWN_SENDER)
    assert "stranger@example.net" in outcome.reason
    assert not User.objects.filter(email="stranger@example.net").exists()
    assert not Ticket.objects.exists()
    assert receive(mail(sender=mario.email)).result == email_in.OPENED


def test_a_disabled_account_is_refused(mario):
    User.objects.filter(pk=mario.pk).update(is_active=False)

    outcome = receive(mail(sender=mario.email))

    assert (outcome.result, outcome.code) == (email_in.REFUSED, email_in.DISABLED_SENDER)


# --- Mail nobody wrote: never a ticket, never an answer --------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        (("Auto-Submitted", "auto-replied"),),
        (("Auto-Submitted", "auto-generated; owner-email=x@example.com"),),
        (("Precedence", "junk"),),
        (("Precedence", "auto_reply"),),
        (("X-Autoreply", "yes"),),
        (("X-Autorespond", "yes"),),
        (("Return-Path", "<>"),),
    ],
)
def test_auto_replies_and_bounces_are_ignored(mario, headers):
    outcome = receive(mail(sender=mario.email, subject="Out of office", headers=headers))

    assert outcome.result == email_in.IGNORED and not outcome.filed
    assert not Ticket.objects.exists() and not OutboundEmail.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        (("Auto-Submitted", "no"),),
        (("Precedence", "list"), ("List-Id", "<ops.example.com>")),
        (("Precedence", "bulk"),),
        # Exchange asks not to be auto-answered; a person still wrote it.
        (("X-Auto-Response-Suppress", "All"),),
    ],
)
def test_a_person_writing_through_a_list_or_asking_for_no_auto_reply_is_filed(mario, headers):
    assert receive(mail(sender=mario.email, headers=headers)).filed


def test_a_bounce_from_the_mailer_daemon_is_ignored():
    outcome = receive(mail(sender="MAILER-DAEMON@mx.example.com", subject="Undelivered Mail"))

    assert (outcome.result, outcome.code) == (email_in.IGNORED, "bounce")
    assert not User.objects.exists()


def test_a_delivery_status_report_is_ignored(mario):
    raw = (
        f"From: {mario.email}\r\nTo: support@introserv.com\r\nSubject: Delivery report\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--b--\r\n"
    ).encode()

    outcome = receive(raw)

    assert (outcome.result, outcome.code) == (email_in.IGNORED, "bounce")


@pytest.mark.parametrize(
    "sender",
    ["support@introserv.com", "SUPPORT@introserv.com", "INTROSERV Support <support@introserv.com>"],
)
def test_mail_from_our_own_address_is_ignored(sender):
    outcome = receive(mail(sender=sender))

    assert (outcome.result, outcome.code) == (email_in.IGNORED, "loop")
    assert not Ticket.objects.exists() and not User.objects.exists()


def test_our_own_email_coming_back_is_ignored(mario):
    ticket = opened_by(mario)
    acknowledgement_send(ticket_id=ticket.pk, now=NOW)
    ours = OutboundEmail.objects.get(ticket=ticket)

    outcome = receive(mail(sender=mario.email, msgid=ours.rfc_message_id), LATER)

    assert (outcome.result, outcome.code) == (email_in.IGNORED, "loop")
    assert ticket.messages.filter(kind="customer").count() == 1


# --- Refused: too large, malformed; nothing half-filed ---------------------------------------


@override_settings(EMAIL_MAX_BYTES=2000)
def test_an_oversized_message_is_refused_before_parsing(mario):
    outcome = receive(mail(sender=mario.email, body="x" * 3000))

    assert (outcome.result, outcome.code) == (email_in.REFUSED, email_in.TOO_LARGE)
    assert "2000" in outcome.reason
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"To: support@introserv.com\r\nSubject: who am I\r\n\r\nno From\r\n",
        b"From: undisclosed-recipients:;\r\nSubject: x\r\n\r\nbody\r\n",
        b"From: not an address\r\nSubject: x\r\n\r\nbody\r\n",
    ],
)
def test_malformed_mail_is_refused_with_a_reason(raw):
    outcome = receive(raw)

    assert (outcome.result, outcome.code) == (email_in.REFUSED, email_in.MALFORMED)
    assert outcome.reason
    assert not Ticket.objects.exists() and not User.objects.exists()


def test_a_failure_while_filing_leaves_nothing_behind():
    Team.objects.filter(slug="support").delete()  # ticket_open finds no first line

    with pytest.raises(Team.DoesNotExist):
        receive(mail(sender="new.person@example.org"))

    assert not User.objects.filter(email="new.person@example.org").exists()
    assert not Ticket.objects.exists()


# --- Body: text preferred, HTML made safe, quotes trimmed ------------------------------------


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("iso-8859-1", "Il server è giù.".encode("latin-1"), "Il server è giù."),
        ("x-no-such-charset", b"plain \xe8 bytes", "plain \ufffd bytes"),
    ],
)
def test_bodies_in_other_charsets_are_decoded(mario, charset, payload, expected):
    raw = (
        (
            f"From: {mario.email}\r\nSubject: charset\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: text/plain; charset="{charset}"\r\n'
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + payload
        + b"\r\n"
    )

    assert receive(raw).ticket.messages.get().body == expected


def test_raw_8bit_headers_and_nul_bytes_are_stored_as_text():
    raw = (
        b"From: Jos\xe8 Verdi <jose@example.it>\r\nSubject: caf\xe8 \x00down\r\n"
        b"Message-ID: <a\x00b@example.it>\r\nIn-Reply-To: <c\x00d@example.it>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody \x00 here\r\n"
    )

    outcome = receive(raw)

    ticket = outcome.ticket
    assert ticket.subject == "caf\ufffd down"
    assert ticket.customer.first_name == "Jos\ufffd"
    message = ticket.messages.get()
    assert (message.body, message.email_message_id) == ("body  here", "")


def test_the_plain_text_part_is_preferred_over_html(mario):
    ticket = opened_by(mario, body="Plain words.", html="<p>Rich <b>words</b>.</p>")

    assert ticket.messages.get().body == "Plain words."


def test_html_only_mail_becomes_safe_text_with_lines_and_links(mario):
    html = (
        "<html><head><title>Ignored title</title><style>p {color: red}</style></head><body>"
        "<p>Hello,<br>the panel&nbsp;says <b>error&nbsp;500</b>.</p>"
        "<script>alert('x')</script>"
        '<p>See <a href="https://status.example.com/i/42">the status page</a> and '
        '<a href="javascript:alert(1)">this</a>.</p>'
        "<ul><li>first</li><li>second</li></ul>"
        '<img src="x" onerror="alert(2)"><div>Thanks<br>Mario</div></body></html>'
    )

    ticket = opened_by(mario, body=None, html=html)

    assert ticket.messages.get().body == (
        "Hello,\nthe panel says error 500.\n\n"
        "See the status page (https://status.example.com/i/42) and this.\n\n"
        "- first\n- second\n\nThanks\nMario"
    )


def test_html_to_text_never_returns_markup():
    text = email_content.html_to_text(
        '<p>a &lt;script&gt; b</p><iframe src="x">c</iframe><svg><text>d</text></svg>'
    )

    assert text == "a <script> b\n\nc"


@pytest.mark.parametrize(
    "body",
    [
        "Still down.\n\nOn Mon, 2 Mar 2026 at 10:00, INTROSERV Support <support@introserv.com> wrote:\n> We have received your request\n> HD-2026-000001",
        "Still down.\n\nOn Mon, 2 Mar 2026 at 10:00, INTROSERV Support\n<support@introserv.com> wrote:\n\nWe have received your request",
        "Still down.\n\nIl giorno lun 2 mar 2026 alle ore 10:00 INTROSERV Support <support@introserv.com> ha scritto:\n> Abbiamo ricevuto",
        "Still down.\n\n-----Original Message-----\nFrom: INTROSERV Support\nSent: Monday",
        "Still down.\n\n________________________________\nDa: INTROSERV Support <support@introserv.com>\nInviato: lunedì",
        "> We have received your request\nStill down.\n> HD-2026-000001",
    ],
)
def test_quoted_history_is_trimmed(mario, body):
    ticket = opened_by(mario)

    receive(
        mail(sender=mario.email, subject=f"Re: [{ticket.reference}]", body=body, headers=(PASS,)),
        LATER,
    )

    assert ticket.messages.filter(kind="customer").order_by("id").last().body == "Still down."


def test_a_body_that_is_only_quotes_is_kept_whole():
    quoted = "> the whole thing\n> is a quote"

    assert email_content.trim_quoted(quoted) == quoted


def test_a_message_without_text_says_so(mario):
    ticket = opened_by(mario, body="", attachments=(("shot.png", PNG, "image/png"),))

    assert ticket.messages.get().body == "(no text)"


# --- Attachments -----------------------------------------------------------------------------


def test_attachments_are_kept_on_the_message(mario):
    ticket = opened_by(
        mario,
        attachments=(
            ("invoice.pdf", PDF, "application/pdf"),
            ("screen shot.png", PNG, "image/png"),
        ),
    )

    stored = Attachment.objects.filter(message__ticket=ticket).order_by("filename")
    assert [(a.filename, a.content_type, a.size) for a in stored] == [
        ("invoice.pdf", "application/pdf", len(PDF)),
        ("screen shot.png", "image/png", len(PNG)),
    ]
    assert stored[0].file.read() == PDF


def test_a_refused_attachment_is_dropped_and_named_in_the_body(mario):
    ticket = opened_by(
        mario,
        body="Logs attached.",
        attachments=(
            ("setup.exe", b"MZ...", "application/octet-stream"),
            ("empty.txt", b"", "text/plain"),
            ("boot.log", b"kernel panic", "text/plain"),
        ),
    )

    message = ticket.messages.get()
    assert [a.filename for a in message.attachments.all()] == ["boot.log"]
    assert message.body.startswith("Logs attached.\n\n")
    assert (
        "[attachment setup.exe was not accepted: setup.exe: this type of file cannot be attached.]"
        in message.body
    )
    assert "[attachment empty.txt was not accepted: empty.txt is empty.]" in message.body


def test_refused_files_are_named_in_the_customers_language():
    italian = make_customer(username="lucia", language="it")

    ticket = opened_by(italian, attachments=(("setup.exe", b"MZ", "application/octet-stream"),))

    assert "setup.exe: questo tipo di file non può essere allegato." in ticket.messages.get().body


def test_files_beyond_the_limit_per_message_are_dropped_and_named(mario):
    files = tuple((f"shot{n}.png", PNG, "image/png") for n in range(7))

    ticket = opened_by(mario, attachments=files)

    message = ticket.messages.get()
    assert message.attachments.count() == 5
    assert "[attachment shot5.png was not accepted: at most 5 files per message]" in message.body
    assert "shot6.png" in message.body


@override_settings(ATTACHMENT_MAX_BYTES=10)
def test_a_reply_keeps_its_acceptable_files_when_one_is_too_large(mario):
    ticket = opened_by(mario)

    outcome = receive(
        mail(
            sender=mario.email,
            subject=f"Re: [{ticket.reference}]",
            body="Two files.",
            headers=(PASS,),
            attachments=(("big.pdf", PDF, "application/pdf"), ("small.txt", b"ok", "text/plain")),
        ),
        LATER,
    )

    reply = Message.objects.filter(ticket=outcome.ticket).order_by("id").last()
    assert [a.filename for a in reply.attachments.all()] == ["small.txt"]
    assert "[attachment big.pdf was not accepted:" in reply.body


def test_a_dangerous_file_name_is_cleaned(mario):
    ticket = opened_by(mario, attachments=(("../../etc/passwd.txt", b"root", "text/plain"),))

    assert ticket.messages.get().attachments.get().filename == "passwd.txt"


# --- Any bytes at all: an outcome, never an exception ----------------------------------------


@override_settings(DOOR_LIMITS={})  # 80 messages from one sender: counted elsewhere
@hypothesis.settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    headers=st.lists(
        st.sampled_from(
            [
                b"Subject: ",
                b"In-Reply-To: ",
                b"References: ",
                b"Content-Type: multipart/mixed; boundary=",
                b"Content-Type: text/html; charset=",
                b"Content-Transfer-Encoding: ",
                b"Content-Language: ",
                b"Message-ID: ",
                b"X-",
            ]
        ).flatmap(lambda name: st.binary(max_size=60).map(lambda value: name + value)),
        max_size=6,
    ),
    body=st.binary(max_size=400),
)
def test_whatever_arrives_gets_an_outcome_never_an_exception(headers, body):
    raw = b"From: fuzz@example.com\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body

    outcome = receive(raw)

    assert outcome.result in (email_in.OPENED, email_in.REPLIED, email_in.IGNORED, email_in.REFUSED)
    if outcome.filed:
        assert "\x00" not in outcome.ticket.subject
        assert outcome.ticket.messages.order_by("id").last().body.strip()
