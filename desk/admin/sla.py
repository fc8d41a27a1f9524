"""SLA clocks and breaches, read-only: the sweep and the services write them, people read.
The policy's versions: managers read them and save a change as a new version."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, Subquery
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from desk.admin.common import VisibleTicketsMixin
from sla.models import TARGET_FIELDS, Breach, Clock, Policy
from sla.policy import Targets
from sla.services import versions


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = [*TARGET_FIELDS, "note"]

    def clean(self):
        cleaned = super().clean()
        for name in TARGET_FIELDS:
            value = cleaned.get(name)
            if value is not None and value.total_seconds() < 1:
                self.add_error(name, _("A target is at least one second (hh:mm:ss)."))
        return cleaned

    def targets(self) -> Targets:
        return Targets(
            **{name: int(self.cleaned_data[name].total_seconds()) for name in TARGET_FIELDS}
        )


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Managers (model permissions of the `managers` group) edit the policy; saving, from the
    current version or an older one, writes the next version and changes no existing row."""

    form = PolicyForm
    list_display = [
        "version",
        "current",
        "running_clocks",
        *TARGET_FIELDS,
        "created_at",
        "created_by",
        "note",
    ]
    list_display_links = ["version"]
    list_select_related = ["created_by"]
    readonly_fields = ["version", "current", "running_clocks", "created_at", "created_by"]

    def get_fieldsets(self, request, obj=None):
        described = {
            "description": gettext(
                "Saving writes a new version: clocks that start from then on take it, clocks "
                "already running keep the targets they started with. Durations are hh:mm:ss."
            ),
            "fields": [*TARGET_FIELDS, "note"],
        }
        if obj is None:
            return [(None, described)]
        return [(None, {"fields": self.readonly_fields}), (gettext("Targets"), described)]

    def get_queryset(self, request):
        latest = Policy.objects.order_by("-version").values("version")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                current_version=Subquery(latest),
                running=Count(
                    "clocks",
                    filter=Q(clocks__met_at__isnull=True, clocks__cancelled_at__isnull=True),
                ),
            )
        )

    @admin.display(boolean=True, description=_("current"))
    def current(self, obj: Policy) -> bool:
        return obj.version == obj.current_version

    @admin.display(description=_("running clocks"), ordering="running")
    def running_clocks(self, obj: Policy) -> int:
        return obj.running

    def get_changeform_initial_data(self, request):
        current = Policy.objects.order_by("-version").first()
        if current is None:
            return super().get_changeform_initial_data(request)
        return {name: getattr(current, name) for name in TARGET_FIELDS}

    def has_delete_permission(self, request, obj=None):
        return False  # clocks name the version that set them; history stays

    def save_model(self, request, obj, form, change):
        if change and not form.has_changed():
            obj.saved_version = None
            return
        created = versions.policy_version_create(
            targets=form.targets(),
            note=form.cleaned_data["note"],
            author=request.user,
            now=timezone.now(),
        )
        # The admin logs and reports the row it was given: make it the new version.
        obj.pk, obj.version, obj.created_at = created.pk, created.version, created.created_at
        obj.saved_version = created

    def _saved(self, request, obj):
        if obj.saved_version is None:
            self.message_user(request, gettext("Nothing changed; no new version was written."))
        else:
            self.message_user(
                request,
                gettext(
                    "Saved as version %(version)d: new clocks take it, running clocks keep "
                    "their targets."
                )
                % {"version": obj.saved_version.version},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:sla_policy_changelist"))

    def response_add(self, request, obj, post_url_continue=None):
        return self._saved(request, obj)

    def response_change(self, request, obj):
        return self._saved(request, obj)


@admin.register(Clock)
class ClockAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = [
        "ticket",
        "metric",
        "team",
        "due_at",
        "met_at",
        "breached_at",
        "paused_at",
        "cancelled_at",
    ]
    list_filter = ["metric", "team", "business"]
    list_select_related = ["ticket", "team"]
    search_fields = ["ticket__reference"]
    date_hierarchy = "due_at"
    fields = readonly_fields = [
        "ticket",
        "metric",
        "team",
        "business",
        "target_seconds",
        "policy",
        "started_at",
        "due_at",
        "met_at",
        "breached_at",
        "cancelled_at",
        "paused_at",
        "paused_seconds",
        "remaining_seconds",
        "warned_at",
        "reminded_at",
    ]


@admin.register(Breach)
class BreachAdmin(VisibleTicketsMixin, admin.ModelAdmin):
    list_display = ["detected_at", "ticket", "team", "metric", "due_at", "managers_notified_at"]
    list_filter = ["metric", "team"]
    list_select_related = ["ticket", "team"]
    search_fields = ["ticket__reference"]
    date_hierarchy = "detected_at"
    fields = readonly_fields = [
        "ticket",
        "clock",
        "team",
        "metric",
        "due_at",
        "detected_at",
        "managers_notified_at",
    ]
