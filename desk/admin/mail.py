"""Inbound mail for managers and admins: the log of every email that reached filing, held mail
first, and the review of held mail (file it as the customer's, or discard it).

The review itself is `mailin.review` (the desk stands above mail intake: docs/architecture.md);
operators have the same from a shell (`manage.py mail_held`). Agents do not see any of it.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError
from desk.admin.common import is_manager_request
from mailin.review import held_discard, held_file
from tickets.models import InboundEmail

# A held message is shown as text up to this many characters (it may be 25 MB of MIME).
MESSAGE_SHOWN_CHARS = 20_000


class StateFilter(admin.SimpleListFilter):
    """Held mail by default: what waits for a decision."""

    title = _("state")
    parameter_name = "state"
    EVERYTHING = "all"

    def lookups(self, request, model_admin):
        return [*InboundEmail.State.choices, (self.EVERYTHING, _("All"))]

    def value(self):
        return super().value() or InboundEmail.State.HELD

    def queryset(self, request, queryset):
        if self.value() == self.EVERYTHING:
            return queryset
        return queryset.filter(state=self.value())

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}, remove=["p"]
                ),
                "display": title,
            }


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "sender",
        "subject",
        "state",
        "reason",
        "ticket",
        "reviewed_by",
        "reviewed_at",
    ]
    list_filter = [StateFilter]
    list_select_related = ["ticket", "reviewed_by"]
    search_fields = ["sender", "subject", "message_id"]
    fields = readonly_fields = [
        "received_at",
        "sender",
        "recipients",
        "subject",
        "message_id",
        "state",
        "reason",
        "ticket",
        "reviewed_by",
        "reviewed_at",
        "message",
    ]
    actions = ["file_as_customer", "discard"]

    def has_module_permission(self, request):
        return is_manager_request(request)

    def has_view_permission(self, request, obj=None):
        return is_manager_request(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # The raw message is read only on the page of one held email.
        return super().get_queryset(request).defer("raw")

    @admin.display(description=_("message"))
    def message(self, inbound):
        if inbound.raw is None:
            return _("(not kept: only held mail is)")
        text = bytes(inbound.raw)[: MESSAGE_SHOWN_CHARS * 4].decode("utf-8", "replace")
        return format_html('<pre class="hd-raw-mail">{}</pre>', text[:MESSAGE_SHOWN_CHARS])

    def _review(self, request, queryset, action):
        now = timezone.now()
        for inbound in queryset.filter(state=InboundEmail.State.HELD).order_by("received_at"):
            try:
                if action == "file":
                    outcome = held_file(inbound_id=inbound.pk, reviewer=request.user, now=now)
                    done = gettext("Email %(id)s: filed in %(reference)s.") % {
                        "id": inbound.pk,
                        "reference": outcome.reference,
                    }
                else:
                    held_discard(inbound_id=inbound.pk, reviewer=request.user, now=now)
                    done = gettext("Email %(id)s: discarded.") % {"id": inbound.pk}
            except ServiceError as exc:
                self.message_user(
                    request,
                    gettext("Email %(id)s: %(problem)s")
                    % {"id": inbound.pk, "problem": exc.detail},
                    messages.ERROR,
                )
            else:
                self.message_user(request, done, messages.SUCCESS)

    @admin.action(description=_("File as the customer's mail"))
    def file_as_customer(self, request, queryset):
        self._review(request, queryset, "file")

    @admin.action(description=_("Discard"))
    def discard(self, request, queryset):
        self._review(request, queryset, "discard")
