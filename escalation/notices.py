"""What the customer is told, in their language and their time zone, when their request moves:
which team took it over, why, what happens next and, when that team is not at work, when it
starts (the guide, phase 3: "Riceverete un messaggio che vi spiegherà perché e cosa succederà
in seguito"); an estimate; a question to management and its answer."""

import datetime
import zoneinfo
from decimal import Decimal

from django.utils import formats, translation
from django.utils.translation import gettext as _

from core.formats import moment_text
from escalation.models import REASON_EXPLAINED, ApprovalKind, ApprovalRequest
from teams import calendar
from teams.models import Team
from teams.selectors import team_calendar, team_hours_text, team_public_name
from tickets.models import Ticket


def team_starts_text(team: Team, *, now: datetime.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """At work now, or when the team starts next, in the customer's zone."""
    name = team_public_name(team)
    try:
        cal = team_calendar(team)
        if calendar.is_open(now, cal):
            return _("The %(team)s team is at work now.") % {"team": name}
        opens = calendar.next_open(now, cal)
    except calendar.AlwaysClosedError:
        return _("The %(team)s team has no working hours set; we will tell you who takes it.") % {
            "team": name
        }
    return _("The %(team)s team works %(hours)s: they will start on your request on %(when)s.") % {
        "team": name,
        "hours": team_hours_text(team),
        "when": moment_text(opens, zone),
    }


def escalation_text(
    *,
    ticket: Ticket,
    team: Team,
    why: str,
    language: str,
    zone: zoneinfo.ZoneInfo,
    now: datetime.datetime,
) -> str:
    with translation.override(language):
        return "\n\n".join(
            [
                _(
                    "Your request %(reference)s has been passed to our %(team)s team, the "
                    "specialists who can solve it best."
                )
                % {"reference": ticket.reference, "team": team_public_name(team)},
                _("Why: %(why)s") % {"why": why},
                _(
                    "What happens next: a specialist of this team takes over your request in "
                    "this same conversation. You do not need to write it again, and we will "
                    "keep you updated."
                ),
                team_starts_text(team, now=now, zone=zone),
            ]
        )


def reason_explained(reason: str, *, language: str) -> str:
    with translation.override(language):
        return str(REASON_EXPLAINED.get(reason, ""))


def estimate_text(
    *,
    ticket: Ticket,
    due_at: datetime.datetime,
    note: str,
    language: str,
    zone: zoneinfo.ZoneInfo,
) -> str:
    with translation.override(language):
        parts = [
            _(
                "Your request %(reference)s is not a standard one, so we give you our estimate "
                "in advance: we expect to resolve it by %(when)s. If it takes longer, we will "
                "tell you."
            )
            % {"reference": ticket.reference, "when": moment_text(due_at, zone)}
        ]
        if note:
            parts.append(note)
        return "\n\n".join(parts)


def approval_subject(approval: ApprovalRequest) -> str:
    """ "a billing credit of 25.00 EUR", "an account exception", in the active language."""
    if approval.kind == ApprovalKind.BILLING_CREDIT and approval.amount is not None:
        return _("a billing credit of %(amount)s %(currency)s") % {
            "amount": formats.number_format(approval.amount.quantize(Decimal("0.01")), 2),
            "currency": approval.currency,
        }
    return {
        ApprovalKind.BILLING_CREDIT: _("a billing credit"),
        ApprovalKind.ACCOUNT_EXCEPTION: _("an account exception"),
        ApprovalKind.SPECIAL: _("your special request"),
    }[approval.kind]


def approval_requested_text(*, approval: ApprovalRequest, language: str) -> str:
    with translation.override(language):
        return _(
            "Your request needs the approval of our management for %(what)s. We have asked "
            "for it, and we will tell you the decision here, in this same conversation."
        ) % {"what": approval_subject(approval)}


def approval_ended_text(*, approval: ApprovalRequest, team: Team, language: str) -> str:
    """The decision (or that we no longer need one), and who goes on with the request."""
    with translation.override(language):
        values = {"what": approval_subject(approval), "team": team_public_name(team)}
        if approval.state == ApprovalRequest.State.APPROVED:
            parts = [_("Our management has approved %(what)s.") % values]
        elif approval.state == ApprovalRequest.State.REJECTED:
            parts = [_("Our management could not approve %(what)s.") % values]
        else:
            parts = [_("We no longer need the approval of our management for %(what)s.") % values]
        if approval.note:
            parts.append(approval.note)
        parts.append(_("Our %(team)s team continues with your request.") % values)
        return "\n\n".join(parts)
