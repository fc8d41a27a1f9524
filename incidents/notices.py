"""What a customer is told of an incident, in their language and time zone: the incident's own
words as written, inside a translated frame."""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _

from core.formats import moment_text
from incidents.models import CreditLine, Incident, IncidentUpdate, Status


def status_url(incident: Incident) -> str:
    return f"{settings.SITE_URL}/status/incidents/{incident.pk}/"


def _status_word(status: str) -> str:
    """The status inside a sentence: the label, not capitalised as on the status page."""
    return str(Status(status).label).lower()


def known_problem_text(
    *, incident: Incident, update: IncidentUpdate | None, language: str, zone: zoneinfo.ZoneInfo
) -> str:
    """For the acknowledgement of a request an open incident covers."""
    with translation.override(language):
        parts = [
            _(
                'We already know about this problem: "%(title)s". Your request is linked to it, '
                "and every update reaches you here."
            )
            % {"title": incident.title}
        ]
        if update is not None:
            parts.append(
                _("Latest update, %(when)s (%(status)s): %(body)s")
                % {
                    "when": moment_text(update.created_at, zone),
                    "status": _status_word(update.status),
                    "body": update.body,
                }
            )
        parts.append(_("Follow it on our status page: %(url)s") % {"url": status_url(incident)})
        return "\n\n".join(parts)


def update_text(*, update: IncidentUpdate, language: str) -> str:
    """A public update in a linked thread; the resolution says the request is resolved with it."""
    incident = update.incident
    with translation.override(language):
        if update.status == Status.RESOLVED:
            head = _('The problem "%(title)s" is resolved:') % {"title": incident.title}
            tail = _(
                "Your request is resolved with it. If something still does not work for you, "
                "reply here: your request opens again."
            )
        else:
            head = _('Update on "%(title)s" (%(status)s):') % {
                "title": incident.title,
                "status": _status_word(update.status),
            }
            tail = _("Follow it on our status page: %(url)s") % {"url": status_url(incident)}
        return "\n\n".join([head, update.body, tail])


def credit_text(*, line: CreditLine, language: str) -> str:
    credit, approval = line.credit, line.credit.approval
    with translation.override(language):
        values = {
            "title": credit.incident.title,
            "amount": formats.number_format(line.amount.quantize(Decimal("0.01")), 2),
            "currency": credit.currency,
        }
        if approval.state == "approved":
            parts = [
                _(
                    "Our management has approved a credit of %(amount)s %(currency)s for the "
                    'interruption "%(title)s".'
                )
                % values
            ]
        else:
            parts = [
                _('Our management could not approve a credit for the interruption "%(title)s".')
                % values
            ]
        if approval.note:
            parts.append(approval.note)
        return "\n\n".join(parts)
