"""Incidents in the desk: the list (open first), the incident page (its figures, public updates,
internal notes, linked tickets and credits) with its forms, and the surge policy.

Agents, managers and admins all work an incident. Every write is a use case of
`usecases.incidents`, posted to its own URL: done, back to the page with a message; refused (by
the form or the use case), the page again with the form's errors and a 4xx, nothing changed.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError
from desk.admin.common import is_staff_request
from desk.admin.escalation import person, site_choices
from desk.admin.filters import QueueFilter
from desk.forms import (
    CreditForm,
    IncidentEditForm,
    IncidentForm,
    IncidentNoteForm,
    IncidentUpdateForm,
)
from incidents import selectors
from incidents.models import Incident, Status, Surge, SurgePolicy
from tickets.selectors import tickets_visible_to
from usecases.incidents import (
    credit_request,
    incident_edit,
    incident_note,
    incident_open,
    incident_update,
    surge_covered,
    ticket_unlink,
)

User = get_user_model()
# The page lists this many of the linked tickets; the queue, filtered by the incident, has all.
LINKED_SHOWN = 25
INCIDENT_FILTER = "incident"


def incident_queue_url(incident_id: int) -> str:
    """The ticket queue showing the incident's tickets (all the reader may see)."""
    return (
        reverse("admin:tickets_ticket_changelist")
        + "?"
        + urlencode(
            {QueueFilter.parameter_name: QueueFilter.EVERYTHING, INCIDENT_FILTER: incident_id}
        )
    )


def status_badge(status: str) -> str:
    return format_html(
        '<span class="hd-incident-status hd-incident-status--{}">{}</span>',
        status,
        Status(status).label,
    )


# --- The forms of the incident page ---------------------------------------------------------


def _edit(request, incident, data, now):
    incident_edit(
        incident_id=incident.pk,
        actor=request.user,
        now=now,
        title=data["title"],
        description=data["description"],
        data_center=data["data_center"],
        service=data["service"],
        categories=data["categories"],
        lead_id=data["lead"],
    )


def _update(request, incident, data, now):
    incident_update(
        incident_id=incident.pk,
        actor=request.user,
        body=data["body"],
        status=data["status"],
        reopen=data.get("reopen", False),
        now=now,
    )


def _note(request, incident, data, now):
    incident_note(incident_id=incident.pk, actor=request.user, body=data["body"], now=now)


def _credit(request, incident, data, now):
    credit_request(
        incident_id=incident.pk,
        actor=request.user,
        reason=data["reason"],
        now=now,
        amount=data["amount"],
        share_percent=data["share_percent"],
        fees=data["fees"],
        currency=data["currency"],
    )


@dataclass(frozen=True)
class IncidentAction:
    form: type[forms.Form]
    run: Callable
    done: str


INCIDENT_ACTIONS = {
    "update": IncidentAction(
        IncidentUpdateForm,
        _update,
        _(
            "Update posted: it is on the status page, and every linked thread receives it in "
            "the customer's language."
        ),
    ),
    "note": IncidentAction(IncidentNoteForm, _note, _("Internal note added.")),
    "edit": IncidentAction(IncidentEditForm, _edit, _("The incident is saved.")),
    "credit": IncidentAction(
        CreditForm,
        _credit,
        _("Management has been asked to approve the credit; each customer is told the decision."),
    ),
}


class StatusFilter(admin.SimpleListFilter):
    """Open incidents (any status but resolved) in one click, or one status."""

    title = _("status")
    parameter_name = "status"
    OPEN = "open"

    def lookups(self, request, model_admin):
        return [(self.OPEN, _("Open")), *Status.choices]

    def queryset(self, request, queryset):
        if self.value() == self.OPEN:
            return queryset.exclude(status=Status.RESOLVED)
        if self.value() in Status.values:
            return queryset.filter(status=self.value())
        return queryset


class SiteFilter(admin.SimpleListFilter):
    title = _("data-center site")
    parameter_name = "data_center"

    def lookups(self, request, model_admin):
        return site_choices()

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(data_center=self.value())
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "status_display",
        "site",
        "service",
        "linked_tickets",
        "started_at",
        "lead_display",
    )
    list_display_links = ("title",)
    list_filter = (StatusFilter, SiteFilter)
    list_select_related = ("lead",)
    search_fields = ("title", "service")
    list_per_page = 50

    class Media:
        css = {"all": ["admin_helpdesk/admin.css"]}

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request):
        return is_staff_request(request)

    def has_change_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_delete_permission(self, request, obj=None):
        # An incident is history: its updates reached customers.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(linked=Count("links"))

    def get_ordering(self, request):
        open_first = Case(When(status=Status.RESOLVED, then=Value(1)), default=Value(0))
        return [open_first.asc(), F("started_at").desc(), "-id"]

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, incident: Incident) -> str:
        return status_badge(incident.status)

    @admin.display(description=_("site"), ordering="data_center")
    def site(self, incident: Incident) -> str:
        return incident.data_center.upper() or "—"

    @admin.display(description=_("linked tickets"), ordering="linked")
    def linked_tickets(self, incident: Incident) -> str:
        return format_html('<a href="{}">{}</a>', incident_queue_url(incident.pk), incident.linked)

    @admin.display(description=_("lead"), ordering="lead__username")
    def lead_display(self, incident: Incident) -> str:
        return person(incident.lead)

    # --- Pages ---

    def get_urls(self):
        return [
            *(
                path(
                    f"<path:object_id>/{name}/",
                    self.admin_site.admin_view(self.action_view),
                    {"name": name},
                    name=f"incidents_incident_{name}",
                )
                for name in INCIDENT_ACTIONS
            ),
            path(
                "<path:object_id>/unlink/<int:ticket_id>/",
                self.admin_site.admin_view(self.unlink_view),
                name="incidents_incident_unlink",
            ),
            *super().get_urls(),
        ]

    def get_object(self, request, object_id, from_field=None):
        """The incident, None for any other id, however written."""
        object_id = str(object_id)
        if not (object_id.isascii() and object_id.isdigit() and len(object_id) <= 18):
            return None
        return Incident.objects.select_related("lead", "created_by").filter(pk=object_id).first()

    def _incident(self, request, object_id) -> Incident:
        if not self.has_view_permission(request):
            raise PermissionDenied
        incident = self.get_object(request, object_id)
        if incident is None:
            raise Http404("No such incident.")
        return incident

    def add_view(self, request, form_url="", extra_context=None):
        """Open an incident; from a surge's banner, its site is filled in and opening it
        answers the surge."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        sites = site_choices()
        status = 200
        if request.method == "POST":
            form = IncidentForm(request.POST, sites=sites)
            status = 400
            if form.is_valid():
                data, now = form.cleaned_data, timezone.now()
                try:
                    incident = incident_open(
                        actor=request.user,
                        title=data["title"],
                        description=data["description"],
                        data_center=data["data_center"],
                        service=data["service"],
                        categories=data["categories"],
                        now=now,
                    )
                except ServiceError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
                    status = exc.status
                else:
                    if data["surge"]:
                        surge_covered(surge_id=data["surge"], incident=incident, now=now)
                    self.message_user(
                        request,
                        gettext(
                            "The incident is open and on the status page. Post updates here: "
                            "they reach every linked ticket."
                        ),
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:incidents_incident_change", args=[incident.pk])
                    )
        else:
            initial = {
                "data_center": request.GET.get("data_center", ""),
                "surge": request.GET.get("surge", ""),
            }
            form = IncidentForm(initial=initial, sites=sites)
        surge = None
        surge_id = form["surge"].value()
        if str(surge_id or "").isdigit() and len(str(surge_id)) <= 18:
            surge = selectors.surges_open().filter(pk=int(surge_id)).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Open an incident"),
            "subtitle": None,
            "form": form,
            "surge": surge,
            "has_view_permission": True,
        }
        response = TemplateResponse(request, "admin/incidents/incident/add_form.html", context)
        response.status_code = status
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return self._page(request, self._incident(request, object_id))

    def action_view(self, request, object_id, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._incident(request, object_id)
        form = self._form(name, incident, request.POST)
        status = 400
        if form.is_valid():
            try:
                INCIDENT_ACTIONS[name].run(request, incident, form.cleaned_data, timezone.now())
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
                status = exc.status
            else:
                self.message_user(request, INCIDENT_ACTIONS[name].done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:incidents_incident_change", args=[incident.pk])
                )
        return self._page(request, incident, bound={name: form}, status=status)

    def unlink_view(self, request, object_id, ticket_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._incident(request, object_id)
        ticket_unlink(
            incident_id=incident.pk, actor=request.user, ticket_id=ticket_id, now=timezone.now()
        )
        self.message_user(
            request,
            gettext("The ticket is unlinked: it continues alone and hears no more updates."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))

    def _form(self, name, incident, data=None):
        kwargs = {"auto_id": f"id_{name}_%s"}
        if name == "edit":
            kwargs.update(
                sites=site_choices(keep=[incident.data_center] if incident.data_center else []),
                leads=User.objects.filter(
                    Q(is_active=True, is_staff=True) | Q(pk=incident.lead_id)
                ).order_by("first_name", "last_name", "username"),
                initial={
                    "title": incident.title,
                    "description": incident.description,
                    "data_center": incident.data_center,
                    "service": incident.service,
                    "categories": incident.categories,
                    "lead": incident.lead_id,
                },
            )
        elif name == "update":
            kwargs.update(resolved=not incident.is_open, initial={"status": incident.status})
        elif name == "credit":
            kwargs["customers"] = self._customers(incident) if data is not None else ()
        return INCIDENT_ACTIONS[name].form(data, **kwargs)

    @staticmethod
    def _customers(incident):
        """The linked customers, as the credit form reads them: (id, email, username)."""
        ids = selectors.first_ticket_per_customer(incident.pk)
        return list(
            User.objects.filter(pk__in=list(ids))
            .order_by("pk")
            .values_list("pk", "email", "username")
        )

    def _page(self, request, incident, *, bound=None, status=200):
        """The incident page: a fixed number of queries, however many tickets it has."""
        bound = bound or {}
        figures = selectors.incident_figures(incident)
        linked = list(
            tickets_visible_to(request.user)
            .filter(incident_link__incident=incident)
            .select_related("customer", "team")
            .order_by("-created_at", "-id")[: LINKED_SHOWN + 1]
        )
        credits = list(
            incident.credits.select_related("approval__requested_by", "approval__decided_by")
            .annotate(lines_count=Count("lines"), total=Sum("lines__amount"))
            .order_by("-approval__requested_at", "-id")
        )
        forms_ = {name: bound.get(name) or self._form(name, incident) for name in INCIDENT_ACTIONS}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": incident.title,
            "subtitle": None,
            "incident": incident,
            "original": incident,
            "status_badge": status_badge(incident.status),
            "figures": figures,
            "updates": list(
                incident.updates.select_related("author").order_by("-created_at", "-id")
            ),
            "notes": list(incident.notes.select_related("author").order_by("-created_at", "-id")),
            "linked": linked[:LINKED_SHOWN],
            "linked_more": len(linked) > LINKED_SHOWN,
            "queue_url": incident_queue_url(incident.pk),
            "credits": credits,
            "customers_linked": len(selectors.first_ticket_per_customer(incident.pk)),
            "forms": forms_,
            "opened": next(iter(bound), None),
            "has_view_permission": True,
        }
        response = TemplateResponse(request, "admin/incidents/incident/change_form.html", context)
        response.status_code = status
        return response


# --- Surges ---------------------------------------------------------------------------------


@admin.register(Surge)
class SurgeAdmin(admin.ModelAdmin):
    """The surges noticed, read-only: the watch starts and ends them."""

    list_display = ("site_display", "started_at", "ended_at", "peak_count", "incident")
    list_filter = ("site",)
    list_select_related = ("incident",)
    fields = readonly_fields = ("site", "started_at", "ended_at", "peak_count", "incident")

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("site"), ordering="site")
    def site_display(self, surge: Surge) -> str:
        return surge.site.upper()


@admin.register(SurgePolicy)
class SurgePolicyAdmin(admin.ModelAdmin):
    """One row: admins (and whoever they grant it) edit the threshold, the staff read it."""

    fields = ("enabled", "requests", "minutes")

    def has_module_permission(self, request):
        return is_staff_request(request)

    def has_view_permission(self, request, obj=None):
        return is_staff_request(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        policy = selectors.surge_policy()
        return HttpResponseRedirect(reverse("admin:incidents_surgepolicy_change", args=[policy.pk]))

    def response_change(self, request, obj):
        self.message_user(request, gettext("The surge policy is saved."), messages.SUCCESS)
        return HttpResponseRedirect(request.path)
