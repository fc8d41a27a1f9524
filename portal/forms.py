"""Input of the customer portal. Forms only parse and validate; the views call the use cases,
which apply the rules (attachment limits included) and report what they refuse."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.forms import MultipleFileField, MultipleFileInput
from incidents.models import Incident
from teams.models import Team
from tickets.attachments import ALLOWED_EXTENSIONS, MAX_FILES_PER_MESSAGE
from tickets.models import Category, Priority, Ticket

# Problems with a machine at one of our sites: the only ones where the site matters.
SERVER_CATEGORIES = frozenset(
    {Category.VPS, Category.DEDICATED, Category.NETWORK, Category.DATACENTER}
)

# The categories as the customer meets them: grouped by what the request is about, each with
# a sentence in plain words.
CATEGORY_GROUPS = (
    (
        _("Servers and network"),
        (
            (Category.VPS, _("A virtual server is slow, unreachable or behaves strangely.")),
            (
                Category.DEDICATED,
                _("A physical server of yours does not start, is slow or has a hardware fault."),
            ),
            (
                Category.NETWORK,
                _("Connectivity, IP addresses, DNS, packet loss or a firewall that blocks you."),
            ),
            (
                Category.DATACENTER,
                _(
                    "Work that needs a technician on site: a disk to replace, cabling, a "
                    "hands-on reboot."
                ),
            ),
            (
                Category.CUSTOM_CONFIG,
                _(
                    "A custom or special setup, such as your own firewall rule set. It takes "
                    "longer: we tell you in advance how long."
                ),
            ),
        ),
    ),
    (
        _("Account, billing and orders"),
        (
            (Category.BILLING, _("Invoices, payments, a charge you do not recognise, refunds.")),
            (
                Category.ACCESS,
                _("You cannot log in to your account or control panel, or need to change access."),
            ),
            (Category.ORDERS, _("Buying, upgrading, renewing or cancelling a service.")),
            (
                Category.BILLING_CREDIT,
                _("You ask for a credit, for example after an outage. Our management decides."),
            ),
            (
                Category.ACCOUNT_EXCEPTION,
                _("An exception to the usual rules of your account. Our management decides."),
            ),
        ),
    ),
    (
        _("Anything else"),
        ((Category.OTHER, _("A question or problem that fits none of the above.")),),
    ),
)


def datacenter_sites() -> list[tuple[str, str]]:
    """The sites of the active data-center teams, as (code, label) choices."""
    teams = Team.objects.filter(kind=Team.Kind.DATACENTER, active=True).order_by("site")
    return [(team.site, team.site.upper()) for team in teams]


class AttachmentsMixin:
    """A multiple file input whose help states the limits in the active language."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = gettext(
            "Optional. Up to %(count)s files of at most %(mb)s MB each: screenshots, PDF, "
            "text and log files, archives, office documents."
        ) % {"count": MAX_FILES_PER_MESSAGE, "mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}


def attachments_field() -> MultipleFileField:
    return MultipleFileField(
        label=_("Attachments"),
        widget=MultipleFileInput(attrs={"accept": ",".join(sorted(ALLOWED_EXTENSIONS))}),
    )


class TicketOpenForm(AttachmentsMixin, forms.Form):
    subject = forms.CharField(
        label=_("Subject"),
        max_length=Ticket._meta.get_field("subject").max_length,
        help_text=_("A few words, for example: My VPS is very slow since this morning."),
    )
    category = forms.ChoiceField(
        label=_("What is it about?"),
        choices=[
            (value, Category(value).label) for _g, items in CATEGORY_GROUPS for value, _h in items
        ],
        widget=forms.RadioSelect,
    )
    data_center = forms.ChoiceField(
        label=_("Where is the server?"),
        required=False,
        help_text=_(
            "For a problem with a server: the site where it is. Leave it empty if you do not know."
        ),
    )
    description = forms.CharField(
        label=_("Describe the problem"),
        max_length=20000,
        help_text=_(
            "What happens, since when, and what you have already tried. Names of servers, "
            "IP addresses and error messages help us answer faster."
        ),
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=Priority.choices,
        initial=Priority.NORMAL,
        help_text=_("Urgent means a service of yours is down now."),
    )
    attachments = attachments_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sites = datacenter_sites()
        if sites:
            self.fields["data_center"].choices = [("", _("I do not know / not relevant")), *sites]
        else:
            del self.fields["data_center"]

    def category_groups(self) -> list[tuple[str, list[dict]]]:
        """The category radios by group, each with its plain-words description."""
        radios = {radio.data["value"]: radio for radio in self["category"]}
        return [
            (
                label,
                [
                    {"radio": radios[value], "help": text, "server": value in SERVER_CATEGORIES}
                    for value, text in items
                ],
            )
            for label, items in CATEGORY_GROUPS
        ]

    def clean(self):
        cleaned = super().clean()
        # The site only routes server problems; anything else keeps no stale choice.
        if cleaned.get("category") not in SERVER_CATEGORIES:
            cleaned["data_center"] = ""
        return cleaned


class ReplyForm(AttachmentsMixin, forms.Form):
    body = forms.CharField(
        label=_("Your message"),
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    attachments = attachments_field()
    # Generated with the page: a form sent twice (double click, resubmission) is stored once.
    client_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class TicketFilterForm(forms.Form):
    """The list's filter; a value it does not know shows every ticket."""

    OPEN = "open"
    CLOSED = "closed"

    status = forms.ChoiceField(
        required=False,
        choices=[("", _("All")), (OPEN, _("Open")), (CLOSED, _("Closed"))],
    )


class ChatStartForm(forms.Form):
    """The customer's start-a-chat page."""

    subject = forms.CharField(
        label=_("Subject"),
        required=False,
        max_length=Ticket._meta.get_field("subject").max_length,
        help_text=_("Optional: a few words, for example: My VPS does not answer."),
    )
    body = forms.CharField(
        label=_("Your message"),
        max_length=20000,
        help_text=_("What happens, and on which server or service."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class StatusFilterForm(forms.Form):
    """The status page's filters: a site code and a service, as the incidents name them. A
    well-formed value no incident has shows none; a malformed one is refused."""

    site = forms.SlugField(
        required=False, max_length=Incident._meta.get_field("data_center").max_length
    )
    service = forms.CharField(
        required=False, max_length=Incident._meta.get_field("service").max_length
    )
